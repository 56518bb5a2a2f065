import Gateway
import GatewayTesting
import NIOHTTP1
import Testing

/// A source address that is no live peer's gets nothing from the gateway: not a byte, not a reset.
@Suite(.timeLimit(.minutes(1))) struct LiveGatewaySilenceTests {
    @Test func aNonPeerGetsNoByteAndAFIN() async throws {
        try await withLiveGateway { gateway in
            // A live key, sent from an address no peer has: the address alone decides.
            let key = gateway.peers[0].apiKey
            let (closed, received) = try await gateway.connect(from: "127.0.0.9") { connection in
                try await connection.send(ChatRequest(maxTokens: 5), apiKey: key)
                return (try await connection.closedByGateway(), connection.bytesReceived)
            }
            #expect(closed, "the gateway answered a non-peer")
            #expect(received == 0)
            #expect(gateway.metrics.render().contains("popgate_silent_closes_total{reason=\"non_peer\"} 1"))
        }
    }
}
