import GatewayTesting
import NIOHTTP1
import Receipts
import Testing

/// A backend that cannot be reached costs the request nothing but the attempt: nothing has reached
/// the client yet, so the next candidate serves it.
@Suite(.timeLimit(.minutes(1))) struct LiveGatewayFailoverTests {
    @Test func aRequestTheFirstBackendRefusesIsServedByTheNext() async throws {
        try await withLiveGateway(workers: [.down("gpu-down"), .simulator("gpu-1")]) { gateway in
            let peer = gateway.peers[0]
            let (head, body) = try await gateway.connect(from: peer.address) { connection in
                try await connection.send(ChatRequest(maxTokens: 5), apiKey: peer.apiKey)
                return (try await connection.head(), try await connection.body())
            }
            #expect(head.status == .ok, "\(body)")
            #expect(body.contains("\"choices\""))
            let receipt = try await gateway.receipt(try #require(head.receiptID), readBy: peer)
            #expect(receipt.backend == "gpu-1" && receipt.status == 200)
        }
    }
}
