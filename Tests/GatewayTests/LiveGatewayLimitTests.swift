import GatewayTesting
import NIOHTTP1
import Registry
import Testing

/// A key's token allowance holds however its streams end: a key receives at most its allowance plus
/// one request's `max_tokens` (plus what refills meanwhile), because a running request holds its
/// `max_tokens` back from the allowance and a stream its client cut is charged what it relayed.
@Suite(.timeLimit(.minutes(1))) struct LiveGatewayLimitTests {
    static let allowance = 30
    static let maxTokens = 40
    /// Most of `maxTokens`, so that two streams let through would be more than the bound.
    static let read = 25

    /// Four streams at once, then four one after another, each cut after `read` events. Without the
    /// hold the four at once all pass the allowance (it is not empty when they arrive); without the
    /// charge of a cut stream, every later one passes too: either way 100 tokens or more get through.
    @Test func aTokenLimitedKeyReceivesAtMostItsAllowancePlusOneRequestsMaxTokens() async throws {
        let peer = TestPeer(address: "127.0.0.2", keyLimits: APIKeyLimits(tokensPerMinute: Self.allowance))
        let setup = GatewaySetup(peers: [peer])
        try await withLiveGateway(setup, workers: [.simulator("gpu-1", tokensPerSecond: 50)]) { gateway in
            let started = ContinuousClock.now
            let request = ChatRequest(maxTokens: Self.maxTokens, stream: true)
            var streams = try await withThrowingTaskGroup(of: CutStream.self) { group in
                for _ in 0..<4 { group.addTask { try await gateway.cutStream(as: peer, request, after: Self.read) } }
                return try await group.reduce(into: []) { $0.append($1) }
            }
            for _ in 0..<4 { streams.append(try await gateway.cutStream(as: peer, request, after: Self.read)) }
            let refilled = Double(Self.allowance) * ((ContinuousClock.now - started) / .seconds(60))
            let received = streams.map(\.contentEvents).reduce(0, +)
            let summary = streams.map { "\($0.status.code): \($0.contentEvents) events" }
            #expect(Double(received) <= Double(Self.allowance + Self.maxTokens) + refilled, "\(summary)")
            #expect(streams.contains { $0.status == .ok }, "\(summary)")
            #expect(streams.contains { $0.status == .tooManyRequests }, "\(summary)")
            let refused = try #require(streams.first { $0.status == .tooManyRequests })
            #expect((refused.retryAfter.flatMap(Int.init) ?? 0) >= 1, "Retry-After: \(refused.retryAfter ?? "none")")
        }
    }
}
