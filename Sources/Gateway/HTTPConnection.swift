import Addressing
import Foundation
import Logging
import NIOCore
import NIOHTTP1
import PopConfig
import Receipts
import Registry
import Sodium

/// Serves the HTTP/1.1 requests of one authenticated-peer connection, one after another:
/// authentication, limits, routing, and the proxied exchange (``ProxyExchange``).
///
/// It is the last handler of the connection's pipeline and runs on its event loop: a request
/// is decided in the call that reads its head, and its answer written in the call that reads
/// the worker's (no task, no thread hop). `HTTPServerPipelineHandler` in front of it holds a
/// pipelined request back until the answer before it has ended.
final class HTTPConnection: ChannelInboundHandler, RemovableChannelHandler {
    typealias InboundIn = HTTPServerRequestPart
    typealias OutboundOut = HTTPServerResponsePart

    /// What to do with the connection after a request.
    enum Next {
        case keepAlive, close
        /// Answer nothing more: send FIN, drain what the client still sends, then close
        /// (``SilentCloseHandler``), so unread bytes never make the kernel reset the connection
        /// and destroy a response the client has not read yet.
        case silence
    }

    enum State {
        case idle
        /// Reading past the body of a request that is refused; the refusal is answered at its end.
        case discarding(Request, OpenAIError, extraHeaders: HTTPHeaders, bytes: Int)
        case collecting(Request, Admission, body: ByteBuffer)
        case proxying(Request, Admission, ProxyExchange)
        /// Waiting for the receipt log to answer a `GET /v1/receipts…`.
        case concluding(Request)
        /// Closed, closing or silenced: nothing more is read.
        case done
    }

    private let source: IPAddress
    let context: GatewayContext
    /// The connection's id in its receipts: requests kept alive on one connection share it.
    private let session = RequestID.make()
    private(set) var state = State.idle
    /// The last request's identity on this connection. A kept-alive client sends the same key with
    /// every request, and authentication is a pure function of the header, the source and the
    /// snapshot: while the header and the snapshot's generation are the same, so is the answer.
    private var lastAuthenticated: (generation: UInt64, authorization: String, identity: RequestIdentity)?
    /// The connection's place among those a revocation must reach (``PeerDirectory``); nil when its
    /// peer was gone by the time the connection was set up.
    private var ticket: RevocationRoster.Ticket?
    /// The API key of the request in flight, while one is: a revocation of that key ends it.
    private var heldKeyID: String?
    /// Set when popgated drains (HTTPConnection+Drain.swift): the answer in flight is the last.
    var draining = false

    init(source: IPAddress, context: GatewayContext) {
        self.source = source
        self.context = context
    }

    func handlerAdded(context channelContext: ChannelHandlerContext) {
        let connection = NIOLoopBound(self, eventLoop: channelContext.eventLoop)
        let boundContext = NIOLoopBound(channelContext, eventLoop: channelContext.eventLoop)
        let loop = channelContext.eventLoop
        ticket = context.directory.enroll(address: source) { revocation in
            loop.execute { connection.value.revoked(revocation, boundContext.value) }
        }
    }

    func handlerRemoved(context channelContext: ChannelHandlerContext) {
        if let ticket { context.directory.withdraw(ticket) }
        ticket = nil
    }

    func channelActive(context channelContext: ChannelHandlerContext) {
        if ticket == nil {
            // Its peer left the snapshot between the accept and the enrolment, so no notice will come for it.
            context.logger.info("peer no longer live; closing", metadata: ["peer.address": "\(source)"])
            state = .done
            return channelContext.close(promise: nil)
        }
        channelContext.fireChannelActive()
    }

    func channelRead(context channelContext: ChannelHandlerContext, data: NIOAny) {
        let part = unwrapInboundIn(data)
        switch state {
        case .idle:
            // A body without a head is a protocol error.
            guard case .head(let head) = part else { return finish(.close, writeEnd: false, channelContext) }
            begin(head, channelContext)
            answerExpectation(channelContext)
        case .discarding(let request, let error, let extraHeaders, let bytes):
            switch part {
            case .body(let chunk):
                let total = bytes + chunk.readableBytes
                guard total <= context.settings.maxRequestBodyBytes else { return finish(.close, writeEnd: false, channelContext) }
                state = .discarding(request, error, extraHeaders: extraHeaders, bytes: total)
            case .end:
                refuse(request, error, extraHeaders: extraHeaders, channelContext)
            case .head:
                finish(.close, writeEnd: false, channelContext)
            }
        case .collecting(let request, let admission, var body):
            state = .done  // so `body` is the buffer's only owner while it grows
            switch part {
            case .body(var chunk):
                guard body.readableBytes + chunk.readableBytes <= context.settings.maxRequestBodyBytes else {
                    return bodyTooLarge(request, admission, channelContext)
                }
                body.writeBuffer(&chunk)
                state = .collecting(request, admission, body: body)
            case .end:
                dispatch(request, admission, body: body, channelContext)
            case .head:
                end(admission, stream: false)
                finish(.close, writeEnd: false, channelContext)
            }
        case .proxying, .concluding, .done:
            break
        }
    }

    func channelWritabilityChanged(context channelContext: ChannelHandlerContext) {
        if case .proxying(_, _, let exchange) = state { exchange.clientWritabilityChanged() }
        channelContext.fireChannelWritabilityChanged()
    }

    func channelInactive(context channelContext: ChannelHandlerContext) {
        switch state {
        case .proxying(let request, _, let exchange):
            // The client went away mid-response: counted as NGINX does, 499 "client closed request",
            // and settled like every other end (backend, tokens relayed, charge, receipt).
            request.log.info("client closed the connection before the answer ended")
            exchange.clientClosed()
        case .collecting(_, let admission, _):
            end(admission, stream: false)
        case .idle, .discarding, .concluding, .done:
            break
        }
        state = .done
        channelContext.fireChannelInactive()
    }

    func errorCaught(context channelContext: ChannelHandlerContext, error: any Error) {
        // A malformed request was answered by ProtocolErrorResponder, whose drain holds this close back.
        context.logger.debug("connection ended with an error", metadata: ["error": "\(error)"])
        channelContext.close(promise: nil)
    }

    // MARK: A request

    /// Authentication, route, tier and limits: everything decided from the head alone.
    private func begin(_ head: HTTPRequestHead, _ channelContext: ChannelHandlerContext) {
        var request = Request(head: head, logger: context.logger)
        // The snapshot is read per request, so a peer revoked mid-connection is cut off here.
        let directory = context.directory.versioned
        let authorization = head.headers.first(name: "Authorization")
        let authentication: AuthenticationResult
        if let last = lastAuthenticated, last.generation == directory.generation, last.authorization == authorization {
            authentication = .authenticated(last.identity)
        } else {
            authentication = Authenticator.authenticate(source: source, authorization: authorization, snapshot: directory.snapshot)
            if case .authenticated(let who) = authentication, let authorization {
                lastAuthenticated = (directory.generation, authorization, who)
            }
        }
        let identity: RequestIdentity
        switch authentication {
        case .unknownPeer:
            request.log.info("peer no longer live; closing", metadata: ["peer.address": "\(source)"])
            return finish(.close, writeEnd: false, channelContext)
        case .invalidKey(let reason):
            if context.settings.silentCloseOnAuthFailure {
                request.log.info("request refused silently", metadata: ["peer.address": "\(source)", "reason": "api key"])
                context.metrics.silentClose(.authFailure)
                return finish(.silence, writeEnd: false, channelContext)
            }
            let peer = context.directory.livePeer(at: source)
            request.tenantLabel = peer?.tenantName ?? "unknown"
            request.peerKey = peer?.publicKey.rawBytes
            request.log[metadataKey: "peer.address"] = "\(source)"
            return refuseAfterBody(request, .invalidAPIKey(reason))
        case .authenticated(let who):
            identity = who
        }
        request.log[metadataKey: "peer.name"] = "\(identity.peer.name)"
        request.log[metadataKey: "tenant"] = "\(identity.peer.tenantName)"
        request.tenantLabel = identity.peer.tenantName
        request.peerKey = identity.peer.publicKey.rawBytes
        switch admit(identity) {
        case .peer?:
            request.log.info("peer no longer live; closing", metadata: ["peer.address": "\(source)"])
            return finish(.close, writeEnd: false, channelContext)
        case .key?:
            // As the same key is refused once the snapshot above is replaced, silence included.
            if context.settings.silentCloseOnAuthFailure {
                request.log.info("request refused silently", metadata: ["peer.address": "\(source)", "reason": "api key"])
                context.metrics.silentClose(.authFailure)
                return finish(.silence, writeEnd: false, channelContext)
            }
            return refuseAfterBody(request, .invalidAPIKey("Incorrect API key provided."))
        case nil:
            break
        }

        if head.method == .CONNECT { return refuseAfterBody(request, .connectNotSupported, extraHeaders: ["Allow": "GET, POST"]) }
        let route: ProxyRoute
        switch ProxyRoute.resolve(method: head.method, uri: head.uri) {
        case .failure(let error): return refuseAfterBody(request, error)
        case .success(let resolved): route = resolved
        }
        if case .receipts = route {
            // Reading the log does not add to it: a client polling for its receipt would otherwise
            // never see the log settle.
            request.isReceipted = false
        } else if !context.receipts.isAvailable {
            request.isReceipted = false
            return refuseAfterBody(request, .receiptsUnavailable, extraHeaders: ["Retry-After": "1"])
        }

        let tier: Tier
        if let requested = head.headers.first(name: context.settings.tierHeader) {
            guard let parsed = Tier(rawValue: requested.trimmingCharacters(in: .whitespaces).lowercased()) else {
                return refuseAfterBody(request, .unknownTier(requested, header: context.settings.tierHeader))
            }
            tier = parsed
        } else {
            tier = identity.defaultTier
        }
        request.log[metadataKey: "tier"] = "\(tier)"
        request.tierLabel = tier.rawValue

        if let refusal = context.limiter.admit(apiKey: identity.keyID, tier: tier, own: identity.limits) {
            context.metrics.rateLimited(tenant: identity.peer.tenantName, tier: request.tierLabel, limit: refusal.limit)
            return refuseAfterBody(request, .rateLimited(refusal, tier: tier), extraHeaders: refusal.headers)
        }
        guard context.streams.acquire(peer: identity.peer.id) else {
            let refusal = RateLimitRefusal(limit: .streams, allowance: context.streams.limit, retryAfterSeconds: 1)
            context.metrics.rateLimited(tenant: identity.peer.tenantName, tier: request.tierLabel, limit: .streams)
            return refuseAfterBody(request, .rateLimited(refusal, tier: tier), extraHeaders: refusal.headers)
        }
        state = .collecting(request, Admission(identity: identity, tier: tier, route: route), body: ByteBuffer())
    }

    /// What a client that waits for `100 Continue` (RFC 9110, section 10.1.1) is told once the head is
    /// decided: to send its body when the request is admitted; when it is refused, the refusal at once,
    /// and the connection then closes, draining whatever body the client sends anyway (a FIN, not a reset).
    private func answerExpectation(_ channelContext: ChannelHandlerContext) {
        switch state {
        case .collecting(let request, _, _) where request.expectsContinue:
            let head = HTTPResponseHead(version: request.head.version, status: .continue)
            channelContext.writeAndFlush(NIOAny(HTTPServerResponsePart.head(head)), promise: nil)
        case .discarding(let request, let error, let extraHeaders, _) where request.expectsContinue:
            conclude(request, status: error.status.code, channelContext) { [self] in
                Self.write(error: error, request: request, keepAlive: false, to: channelContext, extraHeaders: extraHeaders)
                request.log.info("request refused", metadata: ["http.status": "\(error.status.code)", "error.code": "\(error.code ?? "")"])
                request.record(error.status.code, in: context)
                finish(.silence, request: request, channelContext)
            }
        default:
            break
        }
    }

    /// The body is read to its end (and dropped) before the refusal is answered.
    private func refuseAfterBody(_ request: Request, _ error: OpenAIError, extraHeaders: HTTPHeaders = [:]) {
        state = .discarding(request, error, extraHeaders: extraHeaders, bytes: 0)
    }

    /// Answers an error once its receipt is written, and logs and counts it.
    private func refuse(
        _ request: Request, _ error: OpenAIError, extraHeaders: HTTPHeaders = [:], _ channelContext: ChannelHandlerContext
    ) {
        conclude(request, status: error.status.code, channelContext) { [self] in
            Self.write(
                error: error, request: request, keepAlive: request.keepAlive, to: channelContext, extraHeaders: extraHeaders
            )
            request.log.info("request refused", metadata: ["http.status": "\(error.status.code)", "error.code": "\(error.code ?? "")"])
            request.record(error.status.code, in: context)
            finish(.keepAlive, request: request, channelContext)
        }
    }

    /// A body past the limit is answered at once (it may never end), and the rest drained.
    private func bodyTooLarge(_ request: Request, _ admission: Admission, _ channelContext: ChannelHandlerContext) {
        end(admission, stream: false)
        let error = OpenAIError.bodyTooLarge(limit: context.settings.maxRequestBodyBytes)
        conclude(request, status: error.status.code, channelContext) { [self] in
            Self.write(error: error, request: request, keepAlive: false, to: channelContext)
            request.record(error.status.code, in: context)
            finish(.silence, channelContext)
        }
    }

    /// The whole request is in: the model listing is answered here, anything else proxied.
    private func dispatch(_ request: Request, _ admission: Admission, body bytes: ByteBuffer, _ channelContext: ChannelHandlerContext) {
        var request = request
        let path: String
        switch admission.route {
        case .listModels:
            end(admission, stream: false)
            return conclude(request, status: 200, channelContext) { [self] in
                listModels(tier: admission.tier, request: request, channelContext)
                request.record(200, in: context)
                finish(.keepAlive, request: request, channelContext)
            }
        case .receipts(let route):
            end(admission, stream: false)
            return answerReceipts(route, request, tenant: admission.identity.peer.tenantName, channelContext)
        case .modelRouted(let routedPath):
            path = routedPath
        }
        // Captures `request` by reference: a refusal's receipt names the model once it is read.
        let refused = { (error: OpenAIError) in
            self.end(admission, stream: false)
            self.refuse(request, error, channelContext)
        }
        let body: RequestBody
        switch RequestBody.parse(bytes) {
        case .failure(let error): return refused(error)
        case .success(let parsed): body = parsed
        }
        // The name is the client's own text until a backend is known to serve it: an unknown one
        // stays out of the receipt (the canary test found it there).
        guard context.router.anyServes(body.model) else { return refused(.modelNotFound(body.model)) }
        request.model = body.model
        request.log[metadataKey: "model"] = "\(body.model)"
        let candidates = context.router.candidates(model: body.model, tier: admission.tier, loads: context.board.current)
        guard !candidates.isEmpty else {
            request.log.warning("no backend available")
            return refused(.noBackend(model: body.model, tier: admission.tier.rawValue))
        }

        var admission = admission
        admission.reservedTokens = body.maxTokens ?? 0
        if let refusal = context.limiter.reserve(
            apiKey: admission.identity.keyID, tier: admission.tier, own: admission.identity.limits,
            tokens: admission.reservedTokens
        ) {
            end(admission, stream: false)
            context.metrics.rateLimited(tenant: admission.identity.peer.tenantName, tier: request.tierLabel, limit: refusal.limit)
            return refuse(request, .rateLimited(refusal, tier: admission.tier), extraHeaders: refusal.headers, channelContext)
        }
        admission.isStream = body.isStream
        if body.isStream { context.metrics.streamStarted() }
        let exchange = ProxyExchange(
            context: context, identity: admission.identity, tier: admission.tier, path: path, head: request.head,
            body: body, requestID: request.id, receiptID: request.receiptHeader, candidates: candidates, log: request.log,
            client: channelContext
        ) { [self, request] outcome in
            guard case .proxying = state else { return }
            end(admission, stream: admission.isStream)
            charge(request, admission, outcome)
            conclude(
                request, status: outcome.status, backend: outcome.backend ?? "", modelVersion: outcome.modelVersion,
                usage: outcome.usage, channelContext
            ) { [self] in
                if let error = outcome.gatewayError {
                    Self.write(
                        error: error, request: request, keepAlive: request.keepAlive && outcome.next == .keepAlive,
                        to: channelContext
                    )
                }
                // The answer is flushed before the log line is made and written: the client does not
                // wait for it. (A pipelined request may be begun, and logged, in `finish` already.)
                finish(outcome.next, request: request, writeEnd: outcome.writeEnd, channelContext)
                logServed(request, outcome)
            }
        }
        state = .proxying(request, admission, exchange)
        exchange.start()
    }

    /// Counts a proxied request and charges its tokens, before the next request is admitted.
    private func charge(_ request: Request, _ admission: Admission, _ outcome: ProxyExchange.Outcome) {
        request.record(outcome.status, backend: outcome.backend, timeToFirstByte: outcome.timeToFirstByte, in: context)
        context.limiter.settle(
            apiKey: admission.identity.keyID, tier: admission.tier, own: admission.identity.limits,
            reserved: admission.reservedTokens, used: outcome.usage?.tokens.total ?? 0
        )
        if let usage = outcome.usage?.tokens {
            context.metrics.tokensCounted(
                tenant: admission.identity.peer.tenantName, tier: request.tierLabel, prompt: usage.prompt,
                completion: usage.completion
            )
        }
    }

    // MARK: Receipts

    /// Writes the request's receipt; false when it could not be (a request that gets none is fine).
    private func writeReceipt(
        _ request: Request, status: UInt, backend: String = "", modelVersion: String = "",
        usage: ProxyExchangeStateMachine.Usage? = nil
    ) -> Bool {
        guard request.isReceipted, let peer = request.peerKey else { return true }
        let receipt = Receipt(
            id: request.receiptID, session: session, timeMicroseconds: 0 /* stamped by the log */, tenant: request.tenantLabel,
            peer: peer, model: request.model, modelVersion: modelVersion, tier: request.tierLabel, backend: backend,
            status: UInt16(clamping: status),
            usage: usage.map(Receipt.Usage.init)
        )
        do {
            try context.receipts.append(receipt)
            return true
        } catch {
            request.log.warning("receipt not written", metadata: ["error": "\(error)"])
            return false
        }
    }

    /// Runs `answer` once the request's receipt is written: only then does the client get the end
    /// of its answer, so every receipt id a client has seen a whole answer with is in the log.
    /// When the receipt cannot be written, the connection is closed without that end.
    private func conclude(
        _ request: Request, status: UInt, backend: String = "", modelVersion: String = "",
        usage: ProxyExchangeStateMachine.Usage? = nil,
        _ channelContext: ChannelHandlerContext, answer: () -> Void
    ) {
        guard writeReceipt(request, status: status, backend: backend, modelVersion: modelVersion, usage: usage) else {
            state = .done
            return channelContext.close(promise: nil)
        }
        answer()
    }

    /// Answers `GET /v1/receipts…` (``ReceiptAPI``); a receipt not yet in a checkpoint is waited for.
    private func answerReceipts(
        _ route: ReceiptAPI.Route, _ request: Request, tenant: String, _ channelContext: ChannelHandlerContext
    ) {
        state = .concluding(request)
        context.receiptAPI.answer(
            route, query: ReceiptAPI.query(of: request.head.uri), tenant: tenant, on: channelContext.eventLoop
        ).assumeIsolated().whenComplete { [self] result in
            guard case .concluding = state else { return }
            switch result {
            case .success(let body):
                Self.writeJSON(status: .ok, body: body, request: request, keepAlive: request.keepAlive, to: channelContext)
                request.log.info("request served", metadata: ["http.status": "200"])
                request.record(200, in: context)
                finish(.keepAlive, request: request, channelContext)
            case .failure(let error as OpenAIError):
                refuse(request, error, channelContext)
            case .failure(let error):
                request.log.warning("receipt log unreadable", metadata: ["error": "\(error)"])
                refuse(
                    request,
                    OpenAIError(
                        status: .internalServerError, message: "The receipt log could not be read; retry shortly.",
                        type: "server_error", code: "receipt_log_unreadable"
                    ),
                    channelContext
                )
            }
        }
    }

    private func logServed(_ request: Request, _ outcome: ProxyExchange.Outcome) {
        var log = request.log
        if let backend = outcome.backend { log[metadataKey: "backend"] = "\(backend)" }
        if let priority = outcome.priority { log[metadataKey: "priority"] = "\(priority)" }
        log.info(
            "request served",
            metadata: [
                "http.status": "\(outcome.status)",
                "duration_ms": "\((ContinuousClock.now - request.started).wholeMilliseconds)",
                "tokens.prompt": "\(outcome.usage.map { "\($0.tokens.prompt)" } ?? "unknown")",
                "tokens.completion": "\(outcome.usage.map { "\($0.tokens.completion)" } ?? "unknown")",
                "tokens.source": "\(outcome.usage.map(\.sourceName) ?? "none")",
            ]
        )
    }

    /// Answers `GET /v1/models` itself (``ModelListing``), from what the backend checks last read:
    /// no worker is asked while the client waits.
    private func listModels(tier: Tier, request: Request, _ channelContext: ChannelHandlerContext) {
        let loads = context.board.current
        let models = ModelListing.routable(router: context.router, tier: tier, loads: loads)
        let entries = context.board.modelEntries
        let described = context.router.listing(loads: loads).map { entries[$0] }
        request.log.info("request served", metadata: ["http.status": "200", "models": "\(models.count)"])
        Self.writeJSON(
            status: .ok, body: ModelListing.body(models: models, described: described), request: request,
            keepAlive: request.keepAlive, to: channelContext
        )
    }

    /// The request's stream slot is given back.
    func end(_ admission: Admission, stream: Bool) {
        context.streams.release(peer: admission.identity.peer.id)
        if stream { context.metrics.streamEnded() }
    }

    /// After an answer (or instead of one): the next request, a close once the answer is out,
    /// or silence. The answer's end is written only after the state has moved on, because
    /// writing it lets `HTTPServerPipelineHandler` hand over a pipelined request at once.
    func finish(
        _ next: Next, request: Request? = nil, writeEnd: Bool = true, _ channelContext: ChannelHandlerContext
    ) {
        // Before the end is written, which may begin a pipelined request with a key of its own.
        if heldKeyID != nil, let ticket { context.directory.release(ticket) }
        heldKeyID = nil
        let end = NIOAny(HTTPServerResponsePart.end(nil))
        switch draining ? ConnectionDrain.next(after: next) : next {
        case .keepAlive where request?.keepAlive == true:
            state = .idle
            if writeEnd { channelContext.writeAndFlush(end, promise: nil) }
        case .keepAlive, .close:
            state = .done
            guard writeEnd else { return channelContext.close(promise: nil) }
            let channel = channelContext.channel
            channelContext.writeAndFlush(end).whenComplete { _ in channel.close(promise: nil) }
        case .silence:
            state = .done
            if writeEnd { channelContext.writeAndFlush(end, promise: nil) }
            let silence = draining ? ConnectionDrain.closeHandler() : SilentCloseHandler()
            try? channelContext.pipeline.syncOperations.addHandler(silence, position: .first)
        }
    }

    // MARK: Revocation

    /// Enrolls the request's key with the directory, so that its revocation reaches the request; or
    /// the revocation that came before.
    private func admit(_ identity: RequestIdentity) -> Revocation? {
        guard let ticket else { return .peer(.revoked) }
        if let revocation = context.directory.admit(ticket, identity) { return revocation }
        heldKeyID = identity.keyID
        return nil
    }

    /// The registry took away this connection's peer, or the key of its request in flight. What is
    /// in flight ends now: a stream with an error event and its proper end, an answer not begun with
    /// a 401 (``OpenAIError/revoked(_:)``), each with its receipt. A revoked peer's connection is then
    /// closed by the gateway, so it ends with a FIN and a log line that says why; a request of its
    /// still being read, or a refusal still draining its body, ends with the connection, unreceipted.
    fileprivate func revoked(_ revocation: Revocation, _ channelContext: ChannelHandlerContext) {
        // A key's notice may arrive after its request ended and the next, with another key, began.
        if case .key(let keyID) = revocation, keyID != heldKeyID { return }
        let error = OpenAIError.revoked(revocation)
        let closing: Bool
        switch revocation {
        case .peer(let ending):
            closing = true
            context.logger.info(
                "peer \(ending.rawValue); closing its connection",
                metadata: ["peer.address": "\(source)", "connection.state": "\(stateName)"]
            )
        case .key:
            closing = false
        }
        switch state {
        case .proxying(let request, _, let exchange):
            if !closing { request.log.info("api key revoked; ending the request in flight") }
            // Its end comes through the exchange's outcome, which writes the receipt and closes.
            exchange.interrupt(with: error)
        case .collecting(let request, let admission, _):
            end(admission, stream: false)
            if closing { return finish(.close, writeEnd: false, channelContext) }
            request.log.info("api key revoked; refusing the request being read")
            refuseAfterBody(request, error)
        case .concluding(let request):
            if !closing { request.log.info("api key revoked; ending the request in flight") }
            Self.write(error: error, request: request, keepAlive: false, to: channelContext)
            request.record(error.status.code, in: context)
            finish(.close, request: request, channelContext)
        case .idle, .discarding:
            if closing { finish(.close, writeEnd: false, channelContext) }
        case .done:
            break
        }
    }

    /// The state's name, for the log.
    private var stateName: String {
        switch state {
        case .idle: "idle"
        case .discarding: "refusing"
        case .collecting: "reading request"
        case .proxying: "answering"
        case .concluding: "reading receipts"
        case .done: "closed"
        }
    }

    // MARK: Writing the gateway's own answers

    static func write(
        error: OpenAIError, request: Request, keepAlive: Bool, to channelContext: ChannelHandlerContext,
        extraHeaders: HTTPHeaders = [:]
    ) {
        writeJSON(
            status: error.status, body: error.body, request: request, keepAlive: keepAlive, to: channelContext,
            extraHeaders: extraHeaders
        )
    }

    /// A JSON response the gateway makes itself (errors, the model listing), but for its end
    /// (see ``finish(_:request:writeEnd:_:)``).
    static func writeJSON(
        status: HTTPResponseStatus, body bytes: [UInt8], request: Request, keepAlive: Bool,
        to channelContext: ChannelHandlerContext, extraHeaders: HTTPHeaders = [:]
    ) {
        // NIO's encoder gives no answer to CONNECT a body (RFC 9110, section 9.3.6 says so of its 2xx):
        // the head then claims none, and the error's code travels in its status and `Allow`.
        let body = request.head.method == .CONNECT ? ByteBuffer() : ByteBuffer(bytes: bytes)
        var headers = HTTPHeaders()
        if body.readableBytes > 0 { headers.add(name: "Content-Type", value: "application/json") }
        headers.add(name: "Content-Length", value: "\(body.readableBytes)")
        headers.add(name: "X-Request-Id", value: request.id)
        if request.isReceipted { headers.add(name: "X-Receipt-Id", value: request.receiptHeader) }
        headers.add(contentsOf: extraHeaders)
        if !keepAlive { headers.add(name: "Connection", value: "close") }
        channelContext.write(NIOAny(HTTPServerResponsePart.head(HTTPResponseHead(version: .http1_1, status: status, headers: headers))), promise: nil)
        channelContext.write(NIOAny(HTTPServerResponsePart.body(.byteBuffer(body))), promise: nil)
    }
}

extension HTTPConnection {
    /// One request as the log and the metrics see it.
    struct Request {
        /// The request's random id, which is also its receipt's.
        let receiptID = RequestID.make()
        /// `X-Request-Id`: `req_` and the id's hex.
        let id: String
        let started = ContinuousClock.now
        let head: HTTPRequestHead
        var log: RequestLog
        var tenantLabel = "unknown"
        var tierLabel = "unknown"
        /// The peer's WireGuard public key, once the peer is known.
        var peerKey: [UInt8]?
        /// The model the body named ("" until it is read).
        var model = ""
        /// Whether the request gets a receipt (all do but reads of the receipt log, and the 503s
        /// given while it cannot be written).
        var isReceipted = true

        init(head: HTTPRequestHead, logger: Logger) {
            self.head = head
            let hex = String(receiptID.description.dropFirst("rcpt_".count))
            id = "req_" + hex
            log = RequestLog(logger)
            log[metadataKey: "request.id"] = "\(id)"
        }

        /// `X-Receipt-Id`: `rcpt_` and the same hex as the request id.
        var receiptHeader: String { receiptID.description }

        /// Whether the connection may serve another request after this one. Not after a request that
        /// asks to upgrade the protocol (CONNECT, or `Upgrade`): the HTTP parser reads nothing after it.
        var keepAlive: Bool { head.keepsConnection }

        /// `Expect: 100-continue`: the client sends the body only once told to (RFC 9110, section 10.1.1).
        var expectsContinue: Bool {
            head.headers[canonicalForm: "expect"].contains { $0.lowercased() == "100-continue" }
        }

        /// Counts the answer in the metrics.
        func record(
            _ status: UInt, backend: String? = nil, timeToFirstByte: Duration? = nil, in context: GatewayContext
        ) {
            context.metrics.requestFinished(
                tenant: tenantLabel, tier: tierLabel, backend: backend, endpoint: ProxyRoute.path(of: head.uri),
                status: Int(status), duration: ContinuousClock.now - started, timeToFirstByte: timeToFirstByte
            )
        }
    }

    /// A request let through authentication and the limits: it holds one of its peer's stream slots.
    struct Admission {
        let identity: RequestIdentity
        let tier: Tier
        let route: ProxyRoute
        var isStream = false
        /// The tokens held back from the key's allowance while the request runs (its `max_tokens`).
        var reservedTokens = 0
    }
}
