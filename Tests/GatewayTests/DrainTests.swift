import Addressing
import Foundation
import Logging
import NIOCore
import NIOEmbedded
import NIOHTTP1
import NIOPosix
import PopConfig
import Receipts
import Registry
import Sodium
import Testing

@testable import Gateway

/// popgated's drain on SIGTERM (docs/architecture.md, "Drain"): connections set up as popgated sets
/// them up (EmbeddedChannel, no socket) meeting it. Streams cut at the deadline go through ``ProxyExchange/interrupt(with:)``, whose every
/// state is tested in ProxyExchangeStateMachineTests; test_drain.py cuts real ones.
@Suite struct DrainTests {
    // The decisions for every state a connection can be in are the connection machine's, tested with
    // every other event there (HTTPConnectionStateMachineTests: drain and drainTimedOut in each state).

    @Test func aRequestCutAtTheDeadlineGetsA503TheClientCanRetry() throws {
        let error = OpenAIError.serverShuttingDown
        #expect(error.status == .serviceUnavailable && error.status.code == 503)
        let body = try #require(try JSONSerialization.jsonObject(with: Data(error.body)) as? [String: [String: Any]])
        #expect(body["error"]?["code"] as? String == "server_shutting_down")
        #expect(body["error"]?["type"] as? String == "server_error")
        #expect(body["error"]?["message"] as? String == "The PoP is restarting; retry the request.")
        // A stream's last event, in the shape the SDKs raise.
        #expect(String(decoding: error.event, as: UTF8.self) == "data: " + String(decoding: error.body, as: UTF8.self) + "\n\n")
    }

    @Test func aConnectionTheDrainClosesHalfClosesAtOnceAndLetsGoAfterItsLinger() throws {
        let recorder = CloseRecorder()
        let channel = EmbeddedChannel()
        try channel.pipeline.syncOperations.addHandler(recorder)
        try channel.pipeline.syncOperations.addHandler(ConnectionDrain.closeHandler())
        try channel.connect(to: SocketAddress(ipAddress: "10.77.0.2", port: 40000)).wait()
        #expect(recorder.modes == [.output])
        // A request written before the client saw the FIN is read and dropped, not answered.
        try channel.writeInbound(ByteBuffer(string: "GET /v1/models HTTP/1.1\r\nHost: x\r\n\r\n"))
        #expect(try channel.readOutbound(as: ByteBuffer.self) == nil)
        channel.embeddedEventLoop.advanceTime(by: ConnectionDrain.linger - .milliseconds(1))
        #expect(channel.isActive)
        channel.embeddedEventLoop.advanceTime(by: .milliseconds(1))
        #expect(!channel.isActive)
        #expect(ConnectionDrain.linger <= .seconds(1))
    }

    // MARK: Connections meeting the drain

    @Test func anIdleConnectionIsClosedAtOnceWithoutAByte() throws {
        let gateway = try Gateway()
        defer { gateway.remove() }
        let channel = try gateway.accept()
        HTTPConnection.drain(channel)
        channel.embeddedEventLoop.run()
        #expect(!channel.isActive)
        #expect(try Self.written(channel).isEmpty)
    }

    @Test func anAnswerInFlightEndsAndTheNextRequestIsNotServed() throws {
        let gateway = try Gateway()
        defer { gateway.remove() }
        let channel = try gateway.accept()
        // A request the gateway refuses (an unknown URL), its body still arriving when the drain begins.
        try channel.writeInbound(ByteBuffer(string: gateway.head("POST", "/v1/unknown", bodyLength: 10) + "01234"))
        HTTPConnection.drain(channel)
        channel.embeddedEventLoop.run()
        #expect(channel.isActive)
        #expect(try Self.written(channel).isEmpty)
        // The rest of the body, and a second request pipelined behind it.
        try channel.writeInbound(ByteBuffer(string: "56789" + gateway.head("GET", "/v1/models")))
        channel.embeddedEventLoop.run()
        let written = try Self.written(channel)
        #expect(written.hasPrefix("HTTP/1.1 404 "))
        #expect(written.components(separatedBy: "HTTP/1.1 ").count == 2, "one answer only: \(written)")
        #expect(!channel.isActive)
    }

    @Test func aRequestStillBeingReadAtTheDeadlineIsClosedWithoutAnAnswer() throws {
        let gateway = try Gateway()
        defer { gateway.remove() }
        let channel = try gateway.accept()
        try channel.writeInbound(ByteBuffer(string: gateway.head("POST", "/v1/chat/completions", bodyLength: 100) + "{\"mo"))
        HTTPConnection.drain(channel)
        channel.embeddedEventLoop.run()
        #expect(channel.isActive)
        let ended = HTTPConnection.drainTimedOut(channel)
        channel.embeddedEventLoop.run()
        #expect(try ended.wait() == false)
        #expect(!channel.isActive)
        let written = try Self.written(channel)
        #expect(written.isEmpty, "\(written)")
    }

    @Test func aConnectionSetUpAfterTheDrainBeganIsDrainedToo() throws {
        let gateway = try Gateway()
        defer { gateway.remove() }
        let before = try gateway.accept()
        #expect(gateway.initializer.connections.beginDrain(HTTPConnection.drain) == 1)
        before.embeddedEventLoop.run()
        #expect(!before.isActive)
        // Accepted before the listener closed, set up after: told once its handlers are in place.
        let late = try gateway.accept()
        late.embeddedEventLoop.run()
        #expect(!late.isActive)
        #expect(try Self.written(late).isEmpty)
    }

    @Test func theDrainWaitsForEveryConnectionsClose() throws {
        let gateway = try Gateway()
        defer { gateway.remove() }
        let channels = try (0..<2).map { _ in try gateway.accept() }
        let loop = channels[0].embeddedEventLoop
        var closed = false
        gateway.initializer.connections.allClosed(on: loop).whenSuccess { closed = true }
        try channels[0].close().wait()
        channels.forEach { $0.embeddedEventLoop.run() }
        #expect(!closed)
        try channels[1].close().wait()
        channels.forEach { $0.embeddedEventLoop.run() }
        #expect(closed)
        #expect(gateway.initializer.connections.open.isEmpty)
    }

    // MARK: Helpers

    /// Everything the gateway has written on `channel` so far, as text.
    static func written(_ channel: EmbeddedChannel) throws -> String {
        var text = ""
        while let buffer = try channel.readOutbound(as: ByteBuffer.self) {
            text += String(buffer: buffer)
        }
        return text
    }

    /// A gateway with one peer, 10.77.0.2 of tenant acme, holding one API key.
    struct Gateway {
        static let peerAddress = "10.77.0.2"
        let initializer: GatewayChannelInitializer
        let token = APIKeyToken.generate()
        let scratch = NSTemporaryDirectory() + "popgate-drain-\(UUID().uuidString)"

        init() throws {
            let configuration = try PopConfiguration.parse("""
                [wireguard]
                address = "10.77.0.1/24"
                endpoint = "198.51.100.1:51820"

                [[backends]]
                name = "gpu-1"
                url = "http://10.99.0.2:8000"
                models = ["m"]
                """)
            let peer = Peer(
                id: 1, tenantID: 1, tenantName: "acme", name: "laptop",
                publicKey: try Curve25519PublicKey(rawBytes: [UInt8](repeating: 1, count: 32)),
                address: IPAddress(Self.peerAddress)!, presharedKey: nil, state: .active, createdAt: Date()
            )
            let key = APIKeyRecord(keyID: token.keyID, tenantID: 1, secretHash: token.secretHash, defaultTier: .fast)
            let logger = Logger(label: "test") { _ in SwiftLogNoOpLogHandler() }
            initializer = GatewayChannelInitializer(
                configuration: configuration,
                directory: PeerDirectory(RegistrySnapshot(revision: 1, peers: [peer], apiKeys: [key])),
                board: BackendBoard(backends: configuration.backends, unhealthyAfter: 1, healthyAfter: 1),
                cacheSalt: CacheSalt(key: SecretBytes(copying: [UInt8](repeating: 3, count: 32))),
                workers: try WorkerConnectionPool(backends: configuration.backends, group: MultiThreadedEventLoopGroup.singleton),
                receipts: try ReceiptLog(
                    directory: scratch, signer: try NoteSigner(name: "test.example/receipts", key: Ed25519PrivateKey()),
                    checkpointInterval: .seconds(60), logger: logger
                ),
                metrics: GatewayMetrics(), logger: logger, tls: nil
            )
        }

        /// A connection from the peer, set up as popgated sets it up, and active.
        func accept() throws -> EmbeddedChannel {
            let channel = EmbeddedChannel()
            let source = try SocketAddress(ipAddress: Self.peerAddress, port: 40000)
            channel.remoteAddress = source
            try initializer.initialize(channel)
            try channel.connect(to: source).wait()
            return channel
        }

        /// A request head with the peer's key.
        func head(_ method: String, _ path: String, bodyLength: Int? = nil) -> String {
            "\(method) \(path) HTTP/1.1\r\nHost: pop\r\nAuthorization: Bearer \(token.reveal())\r\n"
                + (bodyLength.map { "Content-Type: application/json\r\nContent-Length: \($0)\r\n" } ?? "") + "\r\n"
        }

        func remove() { try? FileManager.default.removeItem(atPath: scratch) }
    }
}
