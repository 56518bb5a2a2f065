import Logging
import NIOCore
import NIOHTTP1
import PopConfig
import Registry

/// One model-routed request proxied to a worker: the candidates tried in order until one
/// answers, the answer passed on to the client piece by piece as it arrives, and the tokens it
/// used read on the way.
///
/// It runs on the client connection's event loop, with the worker connection on the same loop
/// (``WorkerConnectionPool``): each piece of the answer is written to the client in the call that
/// read it from the worker. When the client's connection is full, reading from the worker stops
/// until it drains.
final class ProxyExchange: WorkerResponseReceiver {
    /// How the exchange ended.
    struct Outcome {
        var status: UInt
        var backend: String?
        /// The priority sent to a worker that schedules by it.
        var priority: Int?
        var usage: TokenUsage?
        /// The answering backend's revision of the model (`model_revisions`), for the receipt.
        var modelVersion = ""
        /// An answer the gateway gives itself (no backend answered), written once the receipt is.
        var gatewayError: OpenAIError?
        /// From the start of the exchange to the first body byte sent on to the client (a
        /// stream's first token); nil when the worker sent no body.
        var timeToFirstByte: Duration?
        var next: HTTPConnection.Next
        /// Whether the answer is whole but for its end, which the ``HTTPConnection`` writes once it
        /// is ready for the next request (writing it lets a pipelined request through). False when
        /// the body was cut short.
        var writeEnd = true
    }

    private let context: GatewayContext
    private let identity: RequestIdentity
    private let tier: Tier
    private let path: String
    private let head: HTTPRequestHead
    private let body: RequestBody
    private let requestID: String
    private let receiptID: String
    private var log: RequestLog
    private let client: ChannelHandlerContext
    private let onEnd: (Outcome) -> Void
    private let usageOptions: WorkerFields.Value?
    private let started = ContinuousClock.now

    private let candidates: [Int]
    private var nextCandidate = 0
    /// The backend being tried or answering, and the connection to it.
    private var chosen: Int?
    private var worker: WorkerConnection?
    private var retriedIdleConnection = false
    private var responded = false
    private var events: UsageStreamFilter?
    private var tail: UsageTail?
    private var outcome: Outcome?
    private var ended = false

    /// `client` is the ``HTTPConnection``'s context, whose connection the answer is written to;
    /// `onEnd` is called once, when the answer has been passed on in full or the worker failed.
    init(
        context: GatewayContext, identity: RequestIdentity, tier: Tier, path: String, head: HTTPRequestHead,
        body: RequestBody, requestID: String, receiptID: String, candidates: [Int], log: RequestLog,
        client: ChannelHandlerContext, onEnd: @escaping (Outcome) -> Void
    ) {
        self.receiptID = receiptID
        self.context = context
        self.identity = identity
        self.tier = tier
        self.path = path
        self.head = head
        self.body = body
        self.requestID = requestID
        self.candidates = candidates
        self.log = log
        self.client = client
        self.onEnd = onEnd
        usageOptions = body.streamOptionsWithUsage(path: path)
    }

    func start() {
        tryNextCandidate()
    }

    /// The client went away: the worker's answer is given up and its connection closed.
    func abandon() {
        guard !ended else { return }
        ended = true
        worker?.abandon()
        worker = nil
        if let chosen { context.board.requestEnded(chosen) }
    }

    /// The client's connection has room again (or is full): reading from the worker follows.
    func clientWritabilityChanged() {
        worker?.setReading(client.channel.isWritable)
    }

    // MARK: Choosing the worker

    /// Best first; a backend that cannot be reached before it answers is skipped for the next.
    private func tryNextCandidate() {
        guard nextCandidate < candidates.count else {
            let error = OpenAIError.upstreamUnavailable(context.router.backends[candidates[0]].name)
            var outcome = Outcome(status: error.status.code, next: .keepAlive)
            outcome.gatewayError = error
            return end(outcome)
        }
        let index = candidates[nextCandidate]
        nextCandidate += 1
        chosen = index
        retriedIdleConnection = false
        context.board.requestStarted(index)
        send(to: index, fresh: false)
    }

    private func send(to index: Int, fresh: Bool) {
        context.workers.connection(to: index, on: client.eventLoop, fresh: fresh) { [self] result in
            switch result {
            case .success(let connection):
                guard !ended else { return connection.close() }
                worker = connection
                let backend = context.router.backends[index]
                let body = WorkerFields.setting(workerFields(for: backend), in: self.body)
                connection.send(
                    workerRequestHead(index, bodyLength: body.readableBytes), body: body, to: self,
                    idleTimeout: .seconds(Int64(context.settings.upstreamIdleTimeoutSeconds))
                )
            case .failure(let error):
                guard !ended else { return }
                backendFailed(index, error)
            }
        }
    }

    private func backendFailed(_ index: Int, _ error: any Error) {
        context.board.requestEnded(index)
        context.board.failed(index)
        chosen = nil
        log.warning(
            "backend failed before answering",
            metadata: ["backend": "\(context.router.backends[index].name)", "error": "\(error)"]
        )
        tryNextCandidate()
    }

    /// Only headers the worker needs are forwarded: never the client's Authorization (that is
    /// the client's secret for the PoP, not for the worker).
    private func workerRequestHead(_ index: Int, bodyLength: Int) -> HTTPRequestHead {
        var headers = HTTPHeaders()
        headers.add(name: "Host", value: context.workers.endpoints[index].hostHeader)
        for name in ["Content-Type", "Accept"] {
            if let value = head.headers.first(name: name) { headers.add(name: name, value: value) }
        }
        headers.add(name: "X-Request-Id", value: requestID)
        headers.add(name: "Content-Length", value: "\(bodyLength)")
        return HTTPRequestHead(version: .http1_1, method: head.method, uri: path, headers: headers)
    }

    /// The body fields the gateway sets for `backend`: the tier's priority only where the worker
    /// schedules by it, the tenant's cache salt only on vLLM, the stream's usage everywhere; a
    /// client's own priority and salt never.
    private func workerFields(for backend: BackendSettings) -> [(name: String, value: WorkerFields.Value)] {
        var fields: [(name: String, value: WorkerFields.Value)] = [
            ("priority", backend.priorityScheduling ? .int(tier.vllmPriority) : .absent),
            ("cache_salt", backend.kind == .vllm ? .string(context.cacheSalt.salt(tenantID: identity.peer.tenantID)) : .absent),
        ]
        if let usageOptions { fields.append(("stream_options", usageOptions)) }
        return fields
    }

    // MARK: The worker's answer

    func workerResponded(_ response: HTTPResponseHead) {
        guard let chosen else { return }
        responded = true
        let backend = context.router.backends[chosen]
        log[metadataKey: "backend"] = "\(backend.name)"

        var headers = HTTPHeaders()
        // Without a length an HTTP/1.1 answer is chunked, so its last bytes are the end the
        // gateway holds until the receipt is written (HTTPConnection); an HTTP/1.0 client cannot
        // read chunks and keeps the worker's length.
        let forwarded = head.version.minor >= 1 ? ["Content-Type", "Cache-Control"] : ["Content-Type", "Cache-Control", "Content-Length"]
        for name in forwarded {
            if let value = response.headers.first(name: name) { headers.add(name: name, value: value) }
        }
        headers.add(name: "X-Request-Id", value: requestID)
        headers.add(name: "X-Receipt-Id", value: receiptID)
        if !head.isKeepAlive { headers.add(name: "Connection", value: "close") }
        client.write(
            NIOAny(HTTPServerResponsePart.head(HTTPResponseHead(version: head.version, status: response.status, headers: headers))),
            promise: nil
        )
        let isEventStream = response.headers.first(name: "Content-Type")?.hasPrefix("text/event-stream") == true
        events = isEventStream ? UsageStreamFilter(removesUsageChunk: usageOptions != nil) : nil
        tail = isEventStream ? nil : UsageTail()
        outcome = Outcome(
            status: response.status.code, backend: backend.name,
            priority: backend.priorityScheduling ? tier.vllmPriority : nil, next: .keepAlive
        )
        outcome!.modelVersion = backend.modelRevisions[body.model] ?? ""
    }

    /// Each piece is written as it arrives, and flushed when the read that brought it is done
    /// (``workerReadComplete()``): an SSE event is never held back for a later one, and an answer
    /// that arrives in one read goes out in one write.
    func workerSent(_ chunk: ByteBuffer) {
        guard outcome != nil else { return }
        var chunk = chunk
        if events != nil { chunk = events!.pass(chunk) }
        tail?.append(chunk)
        guard chunk.readableBytes > 0 else { return }
        if outcome!.timeToFirstByte == nil { outcome!.timeToFirstByte = ContinuousClock.now - started }
        client.write(NIOAny(HTTPServerResponsePart.body(.byteBuffer(chunk))), promise: nil)
        if !client.channel.isWritable { worker?.setReading(false) }
    }

    func workerReadComplete() {
        client.flush()
    }

    func workerFinished() {
        worker = nil
        guard var outcome, let chosen else { return }
        if events != nil {
            let rest = events!.finish()
            if rest.readableBytes > 0 { client.writeAndFlush(NIOAny(HTTPServerResponsePart.body(.byteBuffer(rest))), promise: nil) }
            outcome.usage = events!.usage
        } else if let tail {
            outcome.usage = tail.usage
        }
        context.board.requestEnded(chosen)
        end(outcome)
    }

    func workerFailed(_ error: any Error) {
        let connection = worker
        worker = nil
        guard !ended, let chosen else { return }
        guard var outcome, responded else {
            // A kept-alive connection the worker closed while it idled in the pool: once more, on
            // a new connection, before the backend is blamed. Not a worker that stayed silent: a
            // new connection would wait as long again on the same hung process.
            let silent = if case .readTimeout = error as? WorkerConnectionError { true } else { false }
            if let connection, connection.answered > 0, !retriedIdleConnection, !silent {
                retriedIdleConnection = true
                return send(to: chosen, fresh: true)
            }
            return backendFailed(chosen, error)
        }
        context.board.failed(chosen)
        context.board.requestEnded(chosen)
        log.warning("backend failed mid-response", metadata: ["error": "\(error)"])
        // The status is already sent. A stream ends with an error event in OpenAI's shape, which
        // the SDKs raise; any other body is cut short by closing the connection.
        if events != nil {
            client.writeAndFlush(
                NIOAny(HTTPServerResponsePart.body(.byteBuffer(ByteBuffer(bytes: OpenAIError.backendFailedMidStream.event)))),
                promise: nil
            )
        }
        outcome.writeEnd = events != nil
        outcome.status = OpenAIError.backendFailedMidStream.status.code
        outcome.usage = events?.usage
        outcome.next = .close
        end(outcome)
    }

    // MARK: Ended by the gateway (revocation: HTTPConnection, RevocationRoster)

    /// Ends the exchange now, the worker's answer given up: a stream already begun gets `error` as
    /// its last event and a proper end, any other body already begun is cut short, and an answer
    /// not begun is `error` itself. Either way the connection closes after it.
    func interrupt(with error: OpenAIError) {
        guard !ended else { return }
        worker?.abandon()
        worker = nil
        if let chosen { context.board.requestEnded(chosen) }
        guard var outcome, responded else {
            var refusal = Outcome(status: error.status.code, next: .close)
            refusal.gatewayError = error
            return end(refusal)
        }
        if events != nil {
            let event = ByteBuffer(bytes: error.event)
            client.writeAndFlush(NIOAny(HTTPServerResponsePart.body(.byteBuffer(event))), promise: nil)
        }
        outcome.writeEnd = events != nil
        outcome.status = error.status.code
        outcome.usage = events?.usage
        outcome.next = .close
        end(outcome)
    }

    private func end(_ outcome: Outcome) {
        guard !ended else { return }
        ended = true
        onEnd(outcome)
    }
}

extension ProxyExchange.Outcome {
    init(status: UInt, next: HTTPConnection.Next) {
        self.init(status: status, backend: nil, priority: nil, usage: nil, timeToFirstByte: nil, next: next)
    }
}
