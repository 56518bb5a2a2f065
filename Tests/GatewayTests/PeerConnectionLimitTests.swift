import Addressing
import Foundation
import Logging
import NIOCore
import NIOEmbedded
import NIOPosix
import PopConfig
import Receipts
import Registry
import Sodium
import Testing

@testable import Gateway

/// `[limits] max_connections_per_peer`, as the channel initializer applies it at accept.
@Suite struct PeerConnectionLimitTests {
    static let first = "10.77.0.2"
    static let second = "10.77.0.3"

    /// A gateway whose peers may each hold two connections, with the two peers above.
    struct Gateway {
        let initializer: GatewayChannelInitializer
        let metrics: GatewayMetrics
        let scratch: String

        init(limit: Int = 2) throws {
            let configuration = try PopConfiguration.parse("""
                [wireguard]
                address = "10.77.0.1/24"
                endpoint = "198.51.100.1:51820"

                [limits]
                max_connections_per_peer = \(limit)

                [[backends]]
                name = "gpu-1"
                url = "http://10.99.0.2:8000"
                models = ["m"]
                """)
            let peers = try [(1, PeerConnectionLimitTests.first), (2, PeerConnectionLimitTests.second)].map { id, address in
                Peer(
                    id: Int64(id), tenantID: 1, tenantName: "acme", name: "peer-\(id)",
                    publicKey: try Curve25519PublicKey(rawBytes: [UInt8](repeating: UInt8(id), count: 32)),
                    address: IPAddress(address)!, presharedKey: nil, state: .active, createdAt: Date()
                )
            }
            scratch = NSTemporaryDirectory() + "popgate-connection-limit-\(UUID().uuidString)"
            let logger = Logger(label: "test") { _ in SwiftLogNoOpLogHandler() }
            metrics = GatewayMetrics()
            initializer = GatewayChannelInitializer(
                configuration: configuration,
                directory: PeerDirectory(RegistrySnapshot(revision: 1, peers: peers, apiKeys: [])),
                board: BackendBoard(backends: configuration.backends, unhealthyAfter: 1, healthyAfter: 1),
                cacheSalt: CacheSalt(key: SecretBytes(copying: [UInt8](repeating: 3, count: 32))),
                workers: try WorkerConnectionPool(
                    backends: configuration.backends, group: MultiThreadedEventLoopGroup.singleton
                ),
                receipts: try ReceiptLog(
                    directory: scratch, signer: try NoteSigner(name: "test.example/receipts", key: Ed25519PrivateKey()),
                    checkpointInterval: .seconds(60), logger: logger
                ),
                metrics: metrics, logger: logger, tls: nil
            )
        }

        /// A connection accepted from `address`, set up as popgated sets it up (before it is active).
        func accept(from address: String) throws -> EmbeddedChannel {
            let channel = EmbeddedChannel()
            let source = try SocketAddress(ipAddress: address, port: 40000)
            channel.remoteAddress = source
            try initializer.initialize(channel)
            try channel.connect(to: source).wait()
            return channel
        }

        var refusals: Double? {
            GatewayMetricsTests.Exposition(metrics).value(#"popgate_silent_closes_total{reason="connection_limit"}"#)
        }

        func remove() { try? FileManager.default.removeItem(atPath: scratch) }
    }

    static func isSilenced(_ channel: EmbeddedChannel) -> Bool {
        (try? channel.pipeline.syncOperations.handler(type: SilentCloseHandler.self)) != nil
    }

    static func isServed(_ channel: EmbeddedChannel) -> Bool {
        (try? channel.pipeline.syncOperations.handler(type: HTTPConnection.self)) != nil
    }

    @Test func aPeerAtItsLimitGetsSilenceAndTheOthersAreServed() throws {
        let gateway = try Gateway()
        defer { gateway.remove() }
        let held = try (0..<2).map { _ in try gateway.accept(from: Self.first) }
        #expect(held.allSatisfy(Self.isServed))
        #expect(gateway.refusals == 0)

        let over = try gateway.accept(from: Self.first)
        #expect(Self.isSilenced(over) && !Self.isServed(over))
        #expect(gateway.refusals == 1)
        // The limit is each peer's own: another peer is not crowded out.
        #expect(Self.isServed(try gateway.accept(from: Self.second)))
    }

    @Test func aClosedConnectionMakesRoomAgain() throws {
        let gateway = try Gateway()
        defer { gateway.remove() }
        let held = try (0..<2).map { _ in try gateway.accept(from: Self.first) }
        try held[0].close().wait()
        held[0].embeddedEventLoop.run()  // the close future completes in a task of the loop
        #expect(Self.isServed(try gateway.accept(from: Self.first)))
        // A refused connection is not counted, so its close makes no room. It is closed by its drain
        // deadline, one second (the client here never closes).
        let over = try gateway.accept(from: Self.first)
        #expect(Self.isSilenced(over))
        over.embeddedEventLoop.advanceTime(by: GatewayChannelInitializer.overLimitDrain)
        #expect(!over.isActive)
        #expect(Self.isSilenced(try gateway.accept(from: Self.first)))
        #expect(gateway.refusals == 2)
    }

    @Test func zeroMeansUnlimited() throws {
        let gateway = try Gateway(limit: 0)
        defer { gateway.remove() }
        let held = try (0..<300).map { _ in try gateway.accept(from: Self.first) }
        #expect(held.allSatisfy(Self.isServed))
        #expect(gateway.refusals == 0)
    }
}
