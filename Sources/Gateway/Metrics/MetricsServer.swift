import Addressing
import Logging
import NIOCore
import NIOHTTP1
import NIOPosix
import ServiceLifecycle

/// The metrics listener: `GET /metrics` in the Prometheus text format on the management address
/// (`[metrics] listen`), never on the tunnel listener, so peers cannot see who uses the PoP.
///
/// HTTP/1.1 with keep-alive, as Prometheus scrapes; every other request gets 404. It knows
/// nothing of the metrics themselves: `render` produces the text at each scrape.
public struct MetricsServer: Service {
    private let listen: SocketEndpoint
    private let group: any EventLoopGroup
    private let logger: Logger
    private let render: @Sendable () -> String
    private let onBound: @Sendable (SocketAddress) -> Void

    /// Creates the server; `onBound` is told the bound address once listening.
    public init(
        listen: SocketEndpoint, group: any EventLoopGroup, logger: Logger, render: @escaping @Sendable () -> String,
        onBound: @escaping @Sendable (SocketAddress) -> Void = { _ in }
    ) {
        self.listen = listen
        self.group = group
        self.logger = logger
        self.render = render
        self.onBound = onBound
    }

    public func run() async throws {
        let server: NIOAsyncChannel<NIOAsyncChannel<HTTPServerRequestPart, HTTPServerResponsePart>, Never>
        do {
            server = try await ServerBootstrap(group: group)
                .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
                .bind(host: listen.host, port: listen.port) { channel in
                    channel.eventLoop.makeCompletedFuture {
                        try channel.pipeline.syncOperations.configureHTTPServerPipeline(withErrorHandling: true)
                        // A scraper asks every few seconds; a connection that stalls or idles longer is closed.
                        try channel.pipeline.syncOperations.addHandler(RequestDeadlines(limits: .init(
                            header: .seconds(10), body: .seconds(10), idle: .seconds(120), send: .seconds(30)
                        )))
                        return try NIOAsyncChannel<HTTPServerRequestPart, HTTPServerResponsePart>(
                            wrappingChannelSynchronously: channel
                        )
                    }
                }
        } catch {
            throw MetricsServerError(listen: listen, underlying: error)
        }
        if let address = server.channel.localAddress { onBound(address) }
        let bound = SocketEndpoint(host: listen.host, port: server.channel.localAddress?.port ?? listen.port)
        logger.info("metrics listening", metadata: ["listen.address": "\(bound)"])

        let logger = self.logger
        do {
            try await cancelWhenGracefulShutdown {
                try await server.executeThenClose { inbound in
                    try await withThrowingDiscardingTaskGroup { tasks in
                        for try await connection in inbound {
                            tasks.addTask {
                                do {
                                    try await serve(connection)
                                } catch {
                                    logger.debug(
                                        "metrics connection ended with an error", metadata: ["error": "\(error)"]
                                    )
                                }
                            }
                        }
                    }
                }
            }
        } catch is CancellationError {
            // A graceful shutdown cancels the accept loop; that is a clean exit.
        }
    }

    private func serve(_ connection: NIOAsyncChannel<HTTPServerRequestPart, HTTPServerResponsePart>) async throws {
        try await connection.executeThenClose { inbound, outbound in
            var head: HTTPRequestHead?
            for try await part in inbound {
                switch part {
                case .head(let requestHead):
                    head = requestHead
                case .body:
                    continue  // nothing here takes a body
                case .end:
                    guard let request = head else { continue }
                    head = nil
                    let endpoint = MetricsEndpoint(method: request.method, uri: request.uri)
                    let (responseHead, body) = endpoint.response(
                        version: request.version, keepAlive: request.isKeepAlive, render: render
                    )
                    try await outbound.write(.head(responseHead))
                    try await outbound.write(.body(.byteBuffer(ByteBuffer(string: body))))
                    try await outbound.write(.end(nil))
                    if !request.isKeepAlive { return }
                }
            }
        }
    }
}

/// The metrics listener could not be opened.
public struct MetricsServerError: Error, CustomStringConvertible {
    /// The configured `[metrics] listen`.
    public let listen: SocketEndpoint
    /// What the bind reported.
    public let underlying: any Error

    public var description: String {
        "cannot listen for metrics on \(listen) ([metrics] listen): \(underlying); the address must be one of this "
            + "node's management addresses and the port free"
    }
}
