import Logging
import NIOCore
import NIOHTTP1
import PopConfig
import Registry

/// Drives one model-routed request's ``ProxyExchangeStateMachine``: it feeds the machine the
/// events of the worker connection and the client's, and carries out the one action each returns.
///
/// It runs on the client connection's event loop, with the worker connection on the same loop
/// (``WorkerConnectionPool``): each piece of the answer is written to the client in the call that
/// read it from the worker. When the client's connection is full, reading from the worker stops
/// until it drains.
final class ProxyExchange: WorkerResponseReceiver {
    /// How the exchange ended, as the ``HTTPConnection`` settles it.
    struct Outcome {
        var status: UInt
        var backend: String?
        /// The priority sent to a worker that schedules by it.
        var priority: Int?
        var usage: ProxyExchangeStateMachine.Usage?
        /// The answering backend's revision of the model (`model_revisions`), for the receipt.
        var modelVersion = ""
        /// An answer the gateway gives itself (no backend answered), written once the receipt is.
        var gatewayError: OpenAIError?
        /// The last bytes of a whole answer, which the stream filter held (a stream's `[DONE]`):
        /// written with the answer's end, once the receipt is.
        var remainder: ByteBuffer?
        /// From the start of the exchange to the first body byte sent on to the client (a
        /// stream's first token); nil when the worker sent no body.
        var timeToFirstByte: Duration?
        /// How the connection goes on: the answer's end is written by the ``HTTPConnection`` once
        /// the receipt is (writing it lets a pipelined request through), and not at all when the body
        /// was cut short or the client has gone (`.cut`).
        var continuation: HTTPConnectionStateMachine.Continuation
    }

    let context: GatewayContext
    let identity: RequestIdentity
    let tier: Tier
    let path: String
    let head: HTTPRequestHead
    let body: RequestBody
    let requestID: String
    private let receiptID: String
    private var log: RequestLog
    private let client: ChannelHandlerContext
    private let onEnd: (Outcome) -> Void
    private let started = ContinuousClock.now

    private var machine: ProxyExchangeStateMachine
    var worker: WorkerConnection?
    private var timeToFirstByte: Duration?
    /// The connection closes after the answer: the client asked so, asked to upgrade (the parser reads
    /// nothing after that), or the answer has no framing of its own (HTTP/1.0 and no length).
    private var closesAfter = false

    /// `client` is the ``HTTPConnection``'s context, whose connection the answer is written to;
    /// `onEnd` is called once, whichever way the exchange ends.
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
        self.log = log
        self.client = client
        self.onEnd = onEnd
        machine = ProxyExchangeStateMachine(
            candidates: candidates.map { index in
                let backend = context.router.backends[index]
                return .init(
                    backend: index, name: backend.name,
                    streamOptions: body.streamFilterOptions(
                        path: path, continuousUsage: backend.kind.streamsContinuousUsage,
                        takesTimings: backend.kind.streamsTimingsPerToken
                    )
                )
            }
        )
    }

    func start() { perform(machine.start()) }

    /// The client went away: the worker's answer is given up and its connection closed.
    func clientClosed() { perform(machine.clientClosed()) }

    /// The client's connection has room again (or is full).
    func clientWritabilityChanged() { perform(machine.clientWritabilityChanged(client.channel.isWritable)) }

    /// The gateway ends the exchange now (revocation, the end of a drain).
    func interrupt(with error: OpenAIError) { perform(machine.interrupt(with: error)) }

    // MARK: The worker's events

    func workerResponded(_ response: HTTPResponseHead) {
        let isEventStream = response.headers.first(name: "Content-Type")?.hasPrefix("text/event-stream") == true
        let action = machine.workerResponded(status: response.status, isEventStream: isEventStream)
        if case .failOver(let failed, _) = action {
            log.warning(
                "backend unavailable before answering",
                metadata: ["backend": "\(context.router.backends[failed].name)", "status": "\(response.status.code)"]
            )
        }
        if case .forwardHead = action { forwardHead(response) } else { perform(action) }
    }

    func workerSent(_ chunk: ByteBuffer) { perform(machine.workerSent(chunk)) }

    func workerReadComplete() { perform(machine.workerReadComplete()) }

    func workerFinished() {
        worker = nil
        perform(machine.workerFinished())
    }

    func workerFailed(_ error: any Error) {
        let connection = worker
        worker = nil
        let failure: ProxyExchangeStateMachine.WorkerFailure =
            if case .readTimeout = error as? WorkerConnectionError { .silent } else {
                .broken(afterEarlierAnswers: (connection?.answered ?? 0) > 0)
            }
        if case .awaitingHead = machine.state {
            log.warning("backend failed before answering", metadata: ["error": "\(error)"])
        } else if case .relaying = machine.state {
            log.warning("backend failed mid-response", metadata: ["error": "\(error)"])
        }
        perform(machine.workerFailed(failure))
    }

    // MARK: Actions

    private func perform(_ action: ProxyExchangeStateMachine.Action) {
        switch action {
        case .connect(let backend, let fresh):
            if !fresh { context.board.requestStarted(backend) }
            connect(to: backend, fresh: fresh)
        case .failOver(let failed, let next):
            // A worker that answered "unavailable" has the rest of that answer on its connection.
            worker?.abandon()
            worker = nil
            context.board.requestEnded(failed)
            context.board.failed(failed)
            context.board.requestStarted(next)
            connect(to: next, fresh: false)
        case .sendRequest(let backend):
            send(to: backend)
        case .closeConnection:
            worker?.close()
            worker = nil
        case .forwardHead:
            break  // carried out in workerResponded, which has the worker's headers
        case .forward(let bytes):
            if timeToFirstByte == nil { timeToFirstByte = ContinuousClock.now - started }
            client.write(NIOAny(HTTPServerResponsePart.body(.byteBuffer(bytes))), promise: nil)
            if !client.channel.isWritable { perform(machine.clientWritabilityChanged(false)) }
        case .flush:
            client.flush()
        case .setWorkerReading(let reading):
            worker?.setReading(reading)
        case .settle(let settlement):
            settle(settlement)
        case .none:
            break
        }
    }

    private func connect(to backend: Int, fresh: Bool) {
        context.workers.connection(to: backend, on: client.eventLoop, fresh: fresh) { [self] result in
            switch result {
            case .success(let connection):
                worker = connection
                perform(machine.connected())
            case .failure(let error):
                log.warning(
                    "backend failed before answering",
                    metadata: ["backend": "\(context.router.backends[backend].name)", "error": "\(error)"]
                )
                perform(machine.connectFailed())
            }
        }
    }

    private func forwardHead(_ response: HTTPResponseHead) {
        guard case .relaying(let relay) = machine.state else { return }
        log[metadataKey: "backend"] = "\(context.router.backends[relay.backend].name)"
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
        // An HTTP/1.0 client cannot read chunks: an answer without a length (a stream) ends only
        // when the connection closes, whatever keep-alive it asked for (RFC 9112, section 6.3).
        let endsByClosing = head.version.minor == 0 && !headers.contains(name: "Content-Length")
        closesAfter = endsByClosing || !head.keepsConnection
        if closesAfter { headers.add(name: "Connection", value: "close") }
        client.write(
            NIOAny(HTTPServerResponsePart.head(HTTPResponseHead(version: head.version, status: response.status, headers: headers))),
            promise: nil
        )
    }

    /// The one end of the exchange: the worker connection given up where the answer was, the
    /// backend's attempt closed in its load and health, the last bytes passed on, and the outcome
    /// handed to the connection, which charges, counts and receipts it.
    private func settle(_ settlement: ProxyExchangeStateMachine.Settlement) {
        if settlement.abandonsWorker {
            worker?.abandon()
            worker = nil
        }
        switch settlement.attempt {
        case .ended(let backend)?:
            context.board.requestEnded(backend)
        case .failed(let backend)?:
            context.board.requestEnded(backend)
            context.board.failed(backend)
        case nil:
            break
        }
        var outcome = Outcome(
            status: settlement.status, usage: settlement.usage, timeToFirstByte: timeToFirstByte, continuation: .nextRequest
        )
        outcome.remainder = settlement.remainder
        if let index = settlement.backend {
            let backend = context.router.backends[index]
            outcome.backend = backend.name
            outcome.priority = backend.priorityScheduling ? tier.vllmPriority : nil
            outcome.modelVersion = backend.modelRevisions[body.model] ?? ""
        }
        switch settlement.end {
        case .whole:
            if closesAfter { outcome.continuation = .close }
        case .streamError(let lastEvent):
            client.writeAndFlush(NIOAny(HTTPServerResponsePart.body(.byteBuffer(ByteBuffer(bytes: lastEvent)))), promise: nil)
            outcome.continuation = .close
        case .cut, .clientGone:
            outcome.continuation = .cut
        case .gatewayAnswer(let error, let keepAlive):
            outcome.gatewayError = error
            outcome.continuation = keepAlive ? .nextRequest : .close
        }
        onEnd(outcome)
    }
}
