@testable import Gateway
import NIOConcurrencyHelpers
import NIOCore
import NIOHTTP1
import NIOPosix
import PopConfig
import Testing

/// A plain HTTP/1.1 server on loopback standing in for a worker: `/ok` answers, `/close` answers
/// and closes, `/hang` never answers. It counts the connections it accepts.
final class CountingWorker: ChannelInboundHandler, @unchecked Sendable {
    typealias InboundIn = HTTPServerRequestPart
    typealias OutboundOut = HTTPServerResponsePart
    private var uri = ""

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        switch unwrapInboundIn(data) {
        case .head(let head): uri = head.uri
        case .body: break
        case .end:
            guard uri != "/hang" else { return }
            let body = ByteBuffer(string: "answered \(uri)")
            var headers: HTTPHeaders = ["Content-Length": "\(body.readableBytes)"]
            if uri == "/close" { headers.add(name: "Connection", value: "close") }
            context.write(wrapOutboundOut(.head(HTTPResponseHead(version: .http1_1, status: .ok, headers: headers))), promise: nil)
            context.write(wrapOutboundOut(.body(.byteBuffer(body))), promise: nil)
            let closes = uri == "/close"
            context.writeAndFlush(wrapOutboundOut(.end(nil))).assumeIsolated().whenComplete { _ in
                if closes { context.close(promise: nil) }
            }
        }
    }
}

@Suite struct WorkerConnectionPoolTests {
    /// Runs `body` with a pool whose one backend is a ``CountingWorker``; `accepted()` says how
    /// many connections the worker has accepted so far.
    func withWorker(_ body: (WorkerConnectionPool, _ accepted: @escaping () -> Int) async throws -> Void) async throws {
        try await withLoopbackWorker({ CountingWorker() }) { pool, _, accepted in try await body(pool, accepted) }
    }

    @Test func aKeptAliveConnectionIsUsedAgain() async throws {
        try await withWorker { pool, accepted in
            for _ in 0..<3 {
                let answer = try await pool.fetch(backend: 0, path: "/ok", timeout: .seconds(5))
                #expect(answer.status == 200 && answer.body == "answered /ok")
            }
            #expect(accepted() == 1)
        }
    }

    @Test func aConnectionTheWorkerClosesIsNotUsedAgain() async throws {
        try await withWorker { pool, accepted in
            _ = try await pool.fetch(backend: 0, path: "/close", timeout: .seconds(5))
            let answer = try await pool.fetch(backend: 0, path: "/ok", timeout: .seconds(5))
            #expect(answer.body == "answered /ok")
            #expect(accepted() == 2)
        }
    }

    /// The worker never answers, so only the fetch's own timer can end it (were it broken, the time
    /// limit would fail the test). No wall-clock bound: in a fresh clone's full parallel `swift test`
    /// on two cores, the task resumed 9.3 s after a 300 ms timer.
    @Test(.timeLimit(.minutes(1))) func aWorkerThatDoesNotAnswerFailsTheFetchAtItsTimeout() async throws {
        try await withWorker { pool, accepted in
            await #expect(throws: WorkerFetchError.timedOut) {
                _ = try await pool.fetch(backend: 0, path: "/hang", timeout: .milliseconds(300))
            }
            // The hung connection was given up, not put back: the next fetch opens another.
            let answer = try await pool.fetch(backend: 0, path: "/ok", timeout: .seconds(5))
            #expect(answer.status == 200)
            #expect(accepted() == 2)
        }
    }

    @Test func aWorkerThatIsNotListeningFailsAtOnce() async throws {
        let group = MultiThreadedEventLoopGroup(numberOfThreads: 1)
        // Port 1 on loopback: nothing listens there, so the connect is refused.
        let pool = try WorkerConnectionPool(
            backends: [BackendSettings(name: "gone", url: "http://127.0.0.1:1", models: ["m"])], group: group
        )
        await #expect(throws: (any Error).self) {
            _ = try await pool.fetch(backend: 0, path: "/ok", timeout: .seconds(5))
        }
        try await group.shutdownGracefully()
    }
}
