import Gateway
import GatewayTesting
import NIOHTTP1
import Receipts
import Testing

/// A key or peer revoked while its stream runs ends that stream at once: the registry follower's
/// replacement of the directory's snapshot reaches the connection, which sends the revocation's error
/// event and ends the answer, and the request is receipted like every other end.
@Suite(.timeLimit(.minutes(1))) struct LiveGatewayRevocationTests {
    @Test func revokingTheKeyMidStreamEndsItWithTheRevocationEventAndAReceipt() async throws {
        // Two peers of one tenant: the second reads the receipt once the first's key is gone.
        let streamer = TestPeer(address: "127.0.0.2", tenant: "acme")
        let auditor = TestPeer(address: "127.0.0.3", tenant: "acme")
        let setup = GatewaySetup(peers: [streamer, auditor])
        try await withLiveGateway(setup, workers: [.simulator("gpu-1", tokensPerSecond: 50)]) { gateway in
            let (receiptID, before, after) = try await gateway.connect(from: streamer.address) { connection in
                try await connection.send(ChatRequest(maxTokens: 500, stream: true), apiKey: streamer.apiKey)
                let head = try await connection.head()
                let before = try await connection.events(untilContent: 3)
                gateway.directory.replace(with: setup.snapshot(revision: 2, revokingKeys: [streamer.apiKey]))
                return (head.receiptID, before, try await connection.events())
            }
            #expect(after.last?.errorCode == "api_key_revoked", "\(after.suffix(3))")
            #expect(!after.contains { $0.isDone })
            // Within a token or two of the replacement, not at the end of 500.
            #expect(after.filter { $0.content != nil }.count <= 2, "\(after.count) events after the revocation")

            let receipt = try await gateway.receipt(try #require(receiptID), readBy: auditor)
            #expect(receipt.status == 401 && receipt.backend == "gpu-1")
            let relayed = (before + after).filter { $0.content != nil }.count
            let completion = Int(try #require(receipt.usage).completionTokens)
            #expect((relayed - 1...relayed + 1).contains(completion), "relayed \(relayed), receipt \(completion)")

            let refused = try await gateway.connect(from: streamer.address) { connection in
                try await connection.send(.GET, "/v1/models", apiKey: streamer.apiKey)
                return try await connection.head().status
            }
            #expect(refused == .unauthorized)
        }
    }

    /// A revoked peer loses the whole connection: the stream ends with `peer_revoked`, then the gateway
    /// closes the connection itself (a FIN, not a reset).
    @Test func revokingThePeerMidStreamEndsItsStreamAndClosesItsConnection() async throws {
        let streamer = TestPeer(address: "127.0.0.2", tenant: "acme")
        let auditor = TestPeer(address: "127.0.0.3", tenant: "acme")
        let setup = GatewaySetup(peers: [streamer, auditor])
        try await withLiveGateway(setup, workers: [.simulator("gpu-1", tokensPerSecond: 50)]) { gateway in
            let (receiptID, after, closed) = try await gateway.connect(from: streamer.address) { connection in
                try await connection.send(ChatRequest(maxTokens: 500, stream: true), apiKey: streamer.apiKey)
                let head = try await connection.head()
                _ = try await connection.events(untilContent: 3)
                gateway.directory.replace(with: setup.snapshot(revision: 2, revokingPeers: [streamer.address]))
                return (head.receiptID, try await connection.events(), try await connection.closedByGateway())
            }
            #expect(after.last?.errorCode == "peer_revoked", "\(after.suffix(3))")
            #expect(closed)
            let receipt = try await gateway.receipt(try #require(receiptID), readBy: auditor)
            #expect(receipt.status == 401 && receipt.backend == "gpu-1")
        }
    }
}
