import NIOConcurrencyHelpers
import NIOCore
import NIOHTTP1
import NIOPosix
import NIOSSL
import PopConfig

/// Keep-alive connections to the inference workers across the backbone, kept per event loop.
///
/// A client's request goes out on a worker connection of the client connection's own event loop,
/// so the whole exchange (request in, request out, answer in, answer out) runs on one thread with
/// no hand-off, as in NGINX's worker process. A worker gets as many connections as it has
/// requests in flight: none wait inside the gateway, where the worker's scheduler cannot see them.
/// Bodies are never written anywhere but the sockets.
public final class WorkerConnectionPool: Sendable {
    /// A worker that does not accept within this is down (the backbone is a private link); it is
    /// also how long a request waits before failing over to the next backend.
    static let connectTimeout = TimeAmount.seconds(1)
    /// Idle connections older than this are closed rather than reused. (How long a worker may
    /// stay silent while an answer is due is the request's: ``WorkerConnection/send(_:body:to:idleTimeout:)``.)
    static let idleTimeout = TimeAmount.seconds(60)

    let endpoints: [WorkerEndpoint]
    private let group: any EventLoopGroup
    private let loops: [ObjectIdentifier: LoopPool]

    /// Connections to `backends` (in the configuration's order), on the loops of `group`.
    public init(backends: [BackendSettings], group: any EventLoopGroup) throws {
        endpoints = try backends.map { try WorkerEndpoint(url: $0.url) }
        self.group = group
        var loops: [ObjectIdentifier: LoopPool] = [:]
        for loop in group.makeIterator() {
            loops[ObjectIdentifier(loop)] = LoopPool(eventLoop: loop, backends: backends.count)
        }
        self.loops = loops
    }

    /// Calls `then`, on `eventLoop`, with a connection to `backend`: the most recently used idle
    /// one, or a new one (always a new one when `fresh`).
    func connection(
        to backend: Int, on eventLoop: any EventLoop, fresh: Bool = false,
        then: @escaping (Result<WorkerConnection, any Error>) -> Void
    ) {
        eventLoop.assertInEventLoop()
        guard let pool = loops[ObjectIdentifier(eventLoop)] else {
            preconditionFailure("event loop \(eventLoop) is not one of the pool's group")
        }
        if !fresh, let idle = pool.take(backend) {
            then(.success(idle))
            return
        }
        let endpoint = endpoints[backend]
        ClientBootstrap(group: eventLoop)
            .connectTimeout(Self.connectTimeout)
            .channelOption(.tcpOption(.tcp_nodelay), value: 1)
            .channelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    let pipeline = channel.pipeline.syncOperations
                    if let tls = endpoint.tls {
                        try pipeline.addHandler(NIOSSLClientHandler(context: tls, serverHostname: endpoint.serverName))
                    }
                    try pipeline.addHTTPClientHandlers()
                    try pipeline.addHandler(WorkerConnection(backend: backend, pool: pool))
                }
            }
            .connect(host: endpoint.host, port: endpoint.port)
            .assumeIsolated()
            .whenComplete { result in
                then(result.flatMap { channel in
                    Result { try channel.pipeline.syncOperations.handler(type: WorkerConnection.self) }
                })
            }
    }

    /// A small GET (health, metrics, model listing) to `backend`: status and body, the body capped
    /// at 4 MiB; fails after `timeout`.
    func fetch(backend: Int, path: String, timeout: TimeAmount) async throws -> (status: UInt, body: String) {
        let eventLoop = group.next()
        let promise = eventLoop.makePromise(of: WorkerFetch.Answer.self)
        let head = HTTPRequestHead(
            version: .http1_1, method: .GET, uri: path, headers: ["Host": endpoints[backend].hostHeader]
        )
        eventLoop.execute {
            let fetch = WorkerFetch(promise: promise, limit: 4 << 20, timeout: timeout)
            eventLoop.assumeIsolated().scheduleTask(in: timeout) { fetch.timedOut() }
            self.connection(to: backend, on: eventLoop) { result in
                switch result {
                case .success(let connection): fetch.send(head, on: connection)
                case .failure(let error): promise.fail(error)
                }
            }
        }
        let answer = try await promise.futureResult.get()
        return (answer.status, answer.body)
    }

    /// One event loop's idle connections, per backend. Used only on that loop.
    final class LoopPool: @unchecked Sendable {
        private let eventLoop: any EventLoop
        private var idle: [[WorkerConnection]]

        init(eventLoop: any EventLoop, backends: Int) {
            self.eventLoop = eventLoop
            idle = Array(repeating: [], count: backends)
        }

        /// The most recently parked connection (the one most likely still open on the worker's side).
        func take(_ backend: Int) -> WorkerConnection? {
            eventLoop.assertInEventLoop()
            while let connection = idle[backend].popLast() {
                if connection.parkedAt + WorkerConnectionPool.idleTimeout > .now() { return connection }
                connection.close()
            }
            return nil
        }

        func park(_ connection: WorkerConnection) {
            eventLoop.assertInEventLoop()
            connection.parkedAt = .now()
            idle[connection.backend].append(connection)
            // The oldest go first once stale, so a burst's connections do not linger.
            while let oldest = idle[connection.backend].first,
                  oldest.parkedAt + WorkerConnectionPool.idleTimeout < connection.parkedAt
            {
                idle[connection.backend].removeFirst()
                oldest.close()
            }
        }

        func remove(_ connection: WorkerConnection) {
            eventLoop.assertInEventLoop()
            idle[connection.backend].removeAll { $0 === connection }
        }
    }
}

/// Collects one small answer for ``WorkerConnectionPool/fetch(backend:path:timeout:)``.
private final class WorkerFetch: WorkerResponseReceiver {
    struct Answer: Sendable {
        var status: UInt
        var body: String
    }

    private let promise: EventLoopPromise<Answer>
    private let limit: Int
    private let timeout: TimeAmount
    private var status: UInt = 0
    private var body = ByteBuffer()
    private var connection: WorkerConnection?
    private var done = false

    init(promise: EventLoopPromise<Answer>, limit: Int, timeout: TimeAmount) {
        self.promise = promise
        self.limit = limit
        self.timeout = timeout
    }

    func send(_ head: HTTPRequestHead, on connection: WorkerConnection) {
        guard !done else { return connection.close() }
        self.connection = connection
        connection.send(head, body: nil, to: self, idleTimeout: timeout)
    }

    func timedOut() {
        guard !done else { return }
        connection?.abandon()
        end(.failure(WorkerFetchError.timedOut))
    }

    func workerResponded(_ head: HTTPResponseHead) {
        status = head.status.code
    }

    func workerSent(_ chunk: ByteBuffer) {
        var chunk = chunk
        guard body.readableBytes + chunk.readableBytes <= limit else {
            connection?.abandon()
            return end(.failure(WorkerFetchError.tooLarge))
        }
        body.writeBuffer(&chunk)
    }

    func workerReadComplete() {}

    func workerFinished() {
        end(.success(Answer(status: status, body: String(buffer: body))))
    }

    func workerFailed(_ error: any Error) {
        end(.failure(error))
    }

    private func end(_ result: Result<Answer, any Error>) {
        guard !done else { return }
        done = true
        connection = nil
        promise.completeWith(result)
    }
}

enum WorkerFetchError: Error, CustomStringConvertible {
    case timedOut, tooLarge
    var description: String {
        switch self {
        case .timedOut: "the worker did not answer in time"
        case .tooLarge: "the worker's answer is larger than 4 MiB"
        }
    }
}
