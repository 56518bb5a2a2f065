@testable import Gateway
import NIOConcurrencyHelpers
import NIOCore
import NIOHTTP1
import NIOPosix
import PopConfig
import Testing

/// A worker on loopback that answers `/ok` at once, never answers `/hang`, and for `/stall` sends
/// its head and three pieces 300 ms apart, then nothing more while keeping the connection open
/// (what a stopped process looks like from the gateway).
private final class StallingWorker: ChannelInboundHandler, @unchecked Sendable {
    typealias InboundIn = HTTPServerRequestPart
    typealias OutboundOut = HTTPServerResponsePart
    static let pieces = 3
    static let gap = TimeAmount.milliseconds(300)
    private var uri = ""

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        switch unwrapInboundIn(data) {
        case .head(let head): uri = head.uri
        case .body: break
        case .end:
            switch uri {
            case "/ok":
                let body = ByteBuffer(string: "ok")
                let head = HTTPResponseHead(version: .http1_1, status: .ok, headers: ["Content-Length": "2"])
                context.write(wrapOutboundOut(.head(head)), promise: nil)
                context.write(wrapOutboundOut(.body(.byteBuffer(body))), promise: nil)
                context.writeAndFlush(wrapOutboundOut(.end(nil)), promise: nil)
            case "/stall":
                let head = HTTPResponseHead(
                    version: .http1_1, status: .ok,
                    headers: ["Content-Type": "text/event-stream", "Transfer-Encoding": "chunked"]
                )
                context.writeAndFlush(wrapOutboundOut(.head(head)), promise: nil)
                let loop = context.eventLoop.assumeIsolated()
                for piece in 0..<Self.pieces {
                    loop.scheduleTask(in: Self.gap * Int64(piece)) {
                        let event = ByteBuffer(string: "data: \(piece)\n\n")
                        context.writeAndFlush(self.wrapOutboundOut(.body(.byteBuffer(event))), promise: nil)
                    }
                }
            default:
                break  // hang
            }
        }
    }
}

/// What one exchange with the worker brought: the parts in order, and how it ended.
private struct Exchange: Sendable {
    var parts: [String] = []
    var silentFor: TimeAmount?
    var failure: String?
    var elapsed: Duration = .zero
}

private final class RecordingReceiver: WorkerResponseReceiver {
    private let promise: EventLoopPromise<Exchange>
    private let started = ContinuousClock.now
    private var exchange = Exchange()

    init(promise: EventLoopPromise<Exchange>) {
        self.promise = promise
    }

    func workerResponded(_ head: HTTPResponseHead) { exchange.parts.append("head \(head.status.code)") }
    func workerSent(_ chunk: ByteBuffer) { exchange.parts.append(String(buffer: chunk)) }
    func workerReadComplete() {}
    func workerFinished() { finish() }

    func workerFailed(_ error: any Error) {
        if case .readTimeout(let limit) = error as? WorkerConnectionError { exchange.silentFor = limit }
        exchange.failure = "\(error)"
        finish()
    }

    private func finish() {
        exchange.elapsed = ContinuousClock.now - started
        promise.succeed(exchange)
    }
}

@Suite struct WorkerSilenceTests {
    func withWorker(_ body: (WorkerConnectionPool, any EventLoop, _ accepted: @escaping () -> Int) async throws -> Void)
        async throws
    {
        try await withLoopbackWorker({ StallingWorker() }, body)
    }

    /// One request on a pooled connection, the way a ``ProxyExchange`` sends it.
    private func exchange(
        _ pool: WorkerConnectionPool, _ loop: any EventLoop, path: String, idleTimeout: TimeAmount
    ) async throws -> Exchange {
        let promise = loop.makePromise(of: Exchange.self)
        loop.execute {
            pool.connection(to: 0, on: loop) { result in
                switch result {
                case .success(let connection):
                    let head = HTTPRequestHead(version: .http1_1, method: .GET, uri: path, headers: ["Host": "w"])
                    connection.send(head, body: nil, to: RecordingReceiver(promise: promise), idleTimeout: idleTimeout)
                case .failure(let error):
                    promise.fail(error)
                }
            }
        }
        return try await promise.futureResult.get()
    }

    @Test func aWorkerSilentMidAnswerFailsItTheIdleTimeoutAfterItsLastPiece() async throws {
        try await withWorker { pool, loop, _ in
            let stalled = try await exchange(pool, loop, path: "/stall", idleTimeout: .milliseconds(500))
            #expect(stalled.parts == ["head 200", "data: 0\n\n", "data: 1\n\n", "data: 2\n\n"])
            #expect(stalled.silentFor == .milliseconds(500), "\(stalled)")
            #expect(stalled.failure == "the worker sent nothing for 500 ms")
            // The last piece came 600 ms in: counted from the request alone it would have failed at 500 ms.
            #expect(stalled.elapsed >= .milliseconds(1050) && stalled.elapsed < .seconds(5), "\(stalled.elapsed)")
        }
    }

    @Test func theSilenceIsCountedFromTheRequestNotFromWhenTheConnectionWasParked() async throws {
        try await withWorker { pool, loop, accepted in
            let answered = try await exchange(pool, loop, path: "/ok", idleTimeout: .seconds(5))
            #expect(answered.failure == nil && answered.parts == ["head 200", "ok"])
            try await Task.sleep(for: .milliseconds(700))
            let hung = try await exchange(pool, loop, path: "/hang", idleTimeout: .seconds(1))
            #expect(hung.silentFor == .seconds(1), "\(hung)")
            #expect(hung.elapsed >= .milliseconds(950) && hung.elapsed < .seconds(5), "\(hung.elapsed)")
            #expect(accepted() == 1, "the parked connection was used for the second request")
            // The hung connection was closed, not parked: the next request opens another.
            let next = try await exchange(pool, loop, path: "/ok", idleTimeout: .seconds(5))
            #expect(next.failure == nil && accepted() == 2)
        }
    }
}
