import Logging
import NIOCore
import NIOHTTP1
import NIOPosix

/// The listening socket could not be set up.
public struct SimulatorServerError: Error, Sendable, CustomStringConvertible {
    /// What failed and what to do about it.
    public let description: String
}

/// A running `popgate-inference-sim`: an OpenAI-compatible HTTP/1.1 server that answers with
/// deterministic text at a set token rate and exposes `/metrics` as vLLM or llama.cpp does.
///
/// Starting one takes two steps, so that callers learn the port before serving:
///
/// ```swift
/// let server = try await SimulatorServer.bind(options: options, logger: logger)
/// print(server.boundAddress)             // e.g. 127.0.0.1:40123 when the port was 0
/// try await server.run()                 // serves until the calling task is cancelled
/// ```
///
/// Cancelling the task that runs ``run()`` is the shutdown: the listener closes at once, open
/// connections (and any stream in progress) are closed, and `run()` returns normally.
public struct SimulatorServer: Sendable {
    /// The options the server runs with.
    public let options: SimulatorOptions
    /// The address actually bound (the kernel's choice when the configured port was 0).
    public let boundAddress: ListenAddress
    /// The server's counters and gauges, as `/metrics` reports them.
    public let metrics: SimulatorMetrics

    private let listener: NIOAsyncChannel<HTTPServerChannel, Never>
    private let loading: LoadingWindow
    private let logger: Logger

    /// The bound TCP port.
    public var port: Int { boundAddress.port }

    private init(
        options: SimulatorOptions, boundAddress: ListenAddress, listener: NIOAsyncChannel<HTTPServerChannel, Never>,
        logger: Logger
    ) {
        self.options = options
        self.boundAddress = boundAddress
        self.metrics = SimulatorMetrics()
        self.listener = listener
        // Counted from the bind, when clients can first connect, as llama-server's loading starts
        // once its listener is open.
        self.loading = LoadingWindow(opened: .now, loadingTime: options.loadingTime)
        self.logger = logger
    }

    /// Binds the listening socket. Connections wait in the backlog until ``run()`` is called,
    /// which must then happen exactly once.
    public static func bind(
        options: SimulatorOptions, group: any EventLoopGroup = MultiThreadedEventLoopGroup.singleton, logger: Logger
    ) async throws -> SimulatorServer {
        let listener: NIOAsyncChannel<HTTPServerChannel, Never>
        do {
            listener = try await ServerBootstrap(group: group)
                .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
                .serverChannelOption(.backlog, value: 256)
                // Every SSE event is its own small write; Nagle would hold tokens back.
                .childChannelOption(.tcpOption(.tcp_nodelay), value: 1)
                .bind(to: try options.listen.socketAddress) { channel in
                    channel.eventLoop.makeCompletedFuture {
                        try channel.pipeline.syncOperations.configureHTTPServerPipeline(withErrorHandling: true)
                        return try HTTPServerChannel(wrappingChannelSynchronously: channel)
                    }
                }
        } catch {
            throw SimulatorServerError(
                description: "cannot listen on \(options.listen): \(error); check that the address is assigned to "
                    + "an interface and that no other process holds the port"
            )
        }
        let port = listener.channel.localAddress?.port ?? options.listen.port
        let bound = try ListenAddress(host: options.listen.host, port: port)
        return SimulatorServer(options: options, boundAddress: bound, listener: listener, logger: logger)
    }

    /// Accepts and serves connections until the calling task is cancelled, then closes everything
    /// and returns.
    public func run() async throws {
        let connection = SimulatorConnection(
            options: options, endpoints: SimulatorEndpoints(options: options, metrics: metrics), metrics: metrics,
            loading: loading, logger: logger
        )
        do {
            // The listener's executeThenClose sits inside the task group, so the listener closes as
            // soon as accepting stops, before the group waits for the open connections.
            try await withThrowingDiscardingTaskGroup { group in
                try await listener.executeThenClose { inbound in
                    for try await channel in inbound {
                        group.addTask { await connection.serve(channel) }
                    }
                }
            }
        } catch is CancellationError {
            // Cancellation is the shutdown signal, not a failure.
        } catch let error as ChannelError where error == .alreadyClosed || error == .ioOnClosedChannel {
            // The listener was closed under the accept loop during shutdown.
        }
    }
}
