@testable import Gateway
import NIOConcurrencyHelpers
import NIOCore
import NIOHTTP1
import NIOPosix
import PopConfig

/// Runs `body` with a pool whose one backend is a worker on loopback, each of whose connections is
/// served by a handler from `makeHandler`; `accepted()` says how many connections it has accepted so far.
func withLoopbackWorker(
    _ makeHandler: @escaping @Sendable () -> any ChannelHandler,
    _ body: (WorkerConnectionPool, any EventLoop, _ accepted: @escaping () -> Int) async throws -> Void
) async throws {
    let group = MultiThreadedEventLoopGroup(numberOfThreads: 1)
    let accepted = NIOLockedValueBox(0)
    let server = try await ServerBootstrap(group: group)
        .childChannelInitializer { channel in
            accepted.withLockedValue { $0 += 1 }
            return channel.eventLoop.makeCompletedFuture {
                try channel.pipeline.syncOperations.configureHTTPServerPipeline()
                try channel.pipeline.syncOperations.addHandler(makeHandler())
            }
        }
        .bind(host: "127.0.0.1", port: 0).get()
    let backend = BackendSettings(name: "w", url: "http://127.0.0.1:\(server.localAddress!.port!)", models: ["m"])
    let pool = try WorkerConnectionPool(backends: [backend], group: group)
    do {
        try await body(pool, group.next()) { accepted.withLockedValue { $0 } }
    } catch {
        try? await server.close()
        try? await group.shutdownGracefully()
        throw error
    }
    try await server.close()
    try await group.shutdownGracefully()
}
