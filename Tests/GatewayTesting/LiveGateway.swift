import Foundation
import Gateway
import InferenceSim
import Logging
import NIOCore
import NIOPosix
import Receipts

/// popgated's per-connection pipeline serving on 127.0.0.1 against simulated workers, for the
/// length of a test: what the namespace integration tests drive through WireGuard, in-process and
/// without root.
package struct LiveGateway: Sendable {
    /// What the gateway is built of; the test may change the directory and the board under it.
    package let assembly: GatewayAssembly
    /// The port the gateway listens on, on 127.0.0.1.
    package let port: Int
    private let group: any EventLoopGroup

    /// The registry snapshot the gateway answers from: replacing it is what the registry follower does.
    package var directory: PeerDirectory { assembly.directory }
    package var receipts: ReceiptLog { assembly.receipts }
    package var metrics: GatewayMetrics { assembly.metrics }
    package var peers: [TestPeer] { assembly.setup.peers }

    init(assembly: GatewayAssembly, port: Int, group: any EventLoopGroup) {
        self.assembly = assembly
        self.port = port
        self.group = group
    }

    /// Opens a connection from `source` (a peer's address, or any other in 127/8), runs `body` with
    /// it, and hangs up.
    package func connect<Value: Sendable>(
        from source: String, _ body: (inout GatewayConnection) async throws -> Value
    ) async throws -> Value {
        try await GatewayConnection.with(port: port, from: source, group: group, body)
    }

    /// An event loop of the gateway's, for a future a test waits on.
    var anyEventLoop: any EventLoop { group.next() }
}

/// The test went past its deadline: the gateway, a worker or the test's client is stuck.
package struct LiveGatewayTimedOut: Error, CustomStringConvertible {
    package let limit: Duration
    package var description: String { "the test did not finish within \(limit)" }
}

/// Runs `body` against a live gateway built from `setup`, with `workers` as its backends in that
/// order, and takes everything down after it: the listener, the workers, the receipt log (which
/// runs, signing checkpoints, meanwhile), the connections, the event loops and the temporary
/// directory of the receipt log. The whole run is bounded by `limit`: a hang fails the test.
package func withLiveGateway<Value: Sendable>(
    _ setup: GatewaySetup = GatewaySetup(), workers: [TestWorker] = [.simulator("gpu-1")],
    limit: Duration = .seconds(30), logger: Logger = GatewayAssembly.quietLogger,
    _ body: @escaping @Sendable (LiveGateway) async throws -> Value
) async throws -> Value {
    let scratch = FileManager.default.temporaryDirectory
        .appendingPathComponent("popgate-gateway-testing-\(UUID().uuidString)").path
    try FileManager.default.createDirectory(atPath: scratch, withIntermediateDirectories: true)
    // Two loops, so a connection and the worker connection it uses may sit on different threads from
    // the test's other connections, as they do in popgated.
    let group = MultiThreadedEventLoopGroup(numberOfThreads: 2)
    let outcome: Result<Value, any Error>
    do {
        outcome = .success(try await serve(
            setup, workers: workers, limit: limit, logger: logger, group: group,
            receiptsDirectory: "\(scratch)/receipts", body
        ))
    } catch {
        outcome = .failure(error)
    }
    // Closes every channel still open: the gateway's connections, and the workers' that idle in its pool.
    try? await group.shutdownGracefully()
    try? FileManager.default.removeItem(atPath: scratch)
    return try outcome.get()
}

private func serve<Value: Sendable>(
    _ setup: GatewaySetup, workers: [TestWorker], limit: Duration, logger: Logger, group: any EventLoopGroup,
    receiptsDirectory: String, _ body: @escaping @Sendable (LiveGateway) async throws -> Value
) async throws -> Value {
    var configured = setup
    var simulators: [SimulatorServer] = []
    for worker in workers {
        let (simulator, port) = try await worker.bind(group: group, logger: logger)
        if let simulator { simulators.append(simulator) }
        configured.toml += worker.backendTOML(port: port)
    }
    let assembly = try GatewayAssembly(
        setup: configured, receiptsDirectory: receiptsDirectory, group: group, logger: logger
    )
    // As GatewayServer binds, but on loopback and a port the kernel chooses. IP_FREEBIND is left out:
    // 127.0.0.1 is always there.
    let initializer = assembly.initializer
    let listener = try await ServerBootstrap(group: group)
        .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
        .serverChannelOption(.backlog, value: 1024)
        .childChannelOption(.tcpOption(.tcp_nodelay), value: 1)
        .childChannelInitializer { channel in
            channel.eventLoop.makeCompletedFuture { try initializer.initialize(channel) }
        }
        .bind(host: "127.0.0.1", port: 0).get()
    guard let port = listener.localAddress?.port else { preconditionFailure("a bound listener has a port") }
    let gateway = LiveGateway(assembly: assembly, port: port, group: group)
    defer { listener.close(promise: nil) }
    return try await withThrowingTaskGroup(of: Value?.self) { tasks in
        for simulator in simulators {
            tasks.addTask {
                try await simulator.run()
                return nil
            }
        }
        tasks.addTask {
            try await assembly.receipts.run()
            return nil
        }
        tasks.addTask {
            // Cancelled once the body is done: the normal way out of this child.
            guard (try? await Task.sleep(for: limit)) != nil else { return nil }
            throw LiveGatewayTimedOut(limit: limit)
        }
        tasks.addTask { try await body(gateway) }
        // The body is the only child that returns a value; the others return nil only once cancelled.
        while let next = try await tasks.next() {
            guard let value = next else { continue }
            tasks.cancelAll()
            try await tasks.waitForAll()
            return value
        }
        preconditionFailure("the test's body ended without a value")
    }
}
