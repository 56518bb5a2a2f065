import GatewayTesting
import NIOHTTP1
import Receipts
import Testing

/// A streamed chat through popgated's real pipeline to a simulated vLLM worker and back, read event by
/// event: the usage the gateway asked for on its own behalf (`include_usage`, and vLLM's continuous
/// usage) never reaches a client that did not ask for it, and is still what the receipt records.
@Suite(.timeLimit(.minutes(1))) struct LiveGatewayStreamTests {
    static let tokens = 12

    @Test func aStreamCarriesNoUsageTheClientDidNotAskForAndIsStillCounted() async throws {
        try await withLiveGateway { gateway in
            let peer = gateway.peers[0]
            let (head, events) = try await gateway.connect(from: peer.address) { connection in
                try await connection.send(ChatRequest(maxTokens: Self.tokens, stream: true), apiKey: peer.apiKey)
                return (try await connection.head(), try await connection.events())
            }
            #expect(head.status == .ok)
            #expect(head.headers.first(name: "Content-Type")?.hasPrefix("text/event-stream") == true)
            #expect(events.compactMap(\.content).count == Self.tokens)
            #expect(events.last?.isDone == true)
            #expect(events.filter(\.hasUsage).isEmpty, "usage reached the client: \(events.filter(\.hasUsage))")

            let receipt = try await gateway.receipt(try #require(head.receiptID), readBy: peer)
            #expect(receipt.status == 200 && receipt.backend == "gpu-1")
            #expect(receipt.usage?.completionTokens == UInt32(Self.tokens) && receipt.usage?.source == .reported)
        }
    }

    @Test func aClientThatAsksForUsageGetsOnlyTheFinalUsageChunk() async throws {
        try await withLiveGateway { gateway in
            let peer = gateway.peers[0]
            let events = try await gateway.connect(from: peer.address) { connection in
                let request = ChatRequest(maxTokens: Self.tokens, stream: true, includeUsage: true)
                try await connection.send(request, apiKey: peer.apiKey)
                #expect(try await connection.head().status == .ok)
                return try await connection.events()
            }
            #expect(events.compactMap(\.content).count == Self.tokens)
            // The usage chunk, then [DONE]; vLLM's usage in every chunk, which only the gateway asked for, is gone.
            #expect(events.dropLast().last?.isUsageChunk == true)
            #expect(events.dropLast().last?.completionTokens == Self.tokens)
            #expect(events.filter(\.hasUsage).count == 1, "\(events.filter(\.hasUsage))")
        }
    }
}
