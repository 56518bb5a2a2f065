import GatewayTesting
import NIOHTTP1
import PopConfig
import Receipts
import Testing

/// The receipt of a stream its client cut after k events: 499, the backend that answered, and about
/// k completion tokens, reported by a vLLM worker (continuous usage) or a llama.cpp one (timings per
/// token), or counted by the gateway from the pieces it relayed for the other kinds, which it does
/// not ask for their counts in every chunk. (A few more than k when the gateway relays events before
/// it sees the client's FIN, on a busy machine.)
@Suite(.timeLimit(.minutes(1))) struct LiveGatewayCutStreamTests {
    static let read = 5

    @Test(arguments: [(WorkerKind.vllm, UsageSource.reported), (.llamacpp, .reported), (.openai, .counted)])
    func theReceiptOfACutStreamNamesItsBackendAndTheTokensRelayed(kind: WorkerKind, source: UsageSource) async throws {
        try await withLiveGateway(workers: [.simulator("gpu-1", kind: kind, tokensPerSecond: 50)]) { gateway in
            let peer = gateway.peers[0]
            let cut = try await gateway.cutStream(as: peer, ChatRequest(maxTokens: 200, stream: true), after: Self.read)
            #expect(cut.status == .ok && cut.contentEvents == Self.read)
            let receipt = try await gateway.receipt(try #require(cut.receiptID), readBy: peer)
            #expect(receipt.status == 499 && receipt.backend == "gpu-1")
            let usage = try #require(receipt.usage)
            #expect((Self.read - 1...Self.read + 3).contains(Int(usage.completionTokens)), "\(usage)")
            #expect(usage.source == source)
            // The workers' counts include the prompt; the gateway counts only what it relayed.
            #expect(source == .reported ? usage.promptTokens > 0 : usage.promptTokens == 0, "\(usage)")
        }
    }
}
