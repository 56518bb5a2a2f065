import Addressing
import Logging
import NIOCore
import NIOHTTP1
import PopConfig
import Receipts
import Registry

/// A whole admitted request answered: the model listing and reads of the receipt log by the
/// gateway itself, anything else proxied to a worker (``ProxyExchange``) once its body, its model,
/// a backend and the key's token allowance allow it.
extension HTTPConnection {
    func dispatch(_ request: Request, _ admission: Admission, body bytes: ByteBuffer, _ channelContext: ChannelHandlerContext) {
        var request = request
        let path: String
        switch admission.route {
        case .listModels:
            perform(machine.answeredByGateway(), channelContext)
            return conclude(request, status: 200, channelContext) { [self] in
                listModels(tier: admission.tier, request: request, channelContext)
                request.record(200, in: context)
                perform(machine.answerWritten(.nextRequest), channelContext)
            }
        case .receipts(let route):
            perform(machine.readingReceipts(), channelContext)
            return answerReceipts(route, request, tenant: admission.identity.peer.tenantName, channelContext)
        case .modelRouted(let routedPath):
            path = routedPath
        }
        let refused = { [self] (error: OpenAIError, headers: HTTPHeaders) in
            perform(machine.dispatchRefused(.init(error: error, extraHeaders: headers)), channelContext)
        }
        let body: RequestBody
        switch RequestBody.parse(bytes) {
        case .failure(let error): return refused(error, [:])
        case .success(let parsed): body = parsed
        }
        // The name is the client's own text until a backend is known to serve it: an unknown one
        // stays out of the receipt (the canary test found it there).
        guard context.router.anyServes(body.model) else { return refused(.modelNotFound(body.model), [:]) }
        request.model = body.model
        request.log[metadataKey: "model"] = "\(body.model)"
        machine.modelRead(request)
        let candidates = context.router.candidates(model: body.model, tier: admission.tier, loads: context.board.current)
        guard !candidates.isEmpty else {
            request.log.warning("no backend available")
            return refused(.noBackend(model: body.model, tier: admission.tier.rawValue), [:])
        }
        var admission = admission
        admission.reservedTokens = body.maxTokens ?? 0
        if let refusal = context.limiter.reserve(
            apiKey: admission.identity.keyID, tier: admission.tier, own: admission.identity.limits,
            tokens: admission.reservedTokens
        ) {
            context.metrics.rateLimited(tenant: admission.identity.peer.tenantName, tier: request.tierLabel, limit: refusal.limit)
            return refused(.rateLimited(refusal, tier: admission.tier), refusal.headers)
        }
        admission.isStream = body.isStream
        if body.isStream { context.metrics.streamStarted() }
        let exchange = ProxyExchange(
            context: context, identity: admission.identity, tier: admission.tier, path: path, head: request.head,
            body: body, requestID: request.id, receiptID: request.receiptHeader, candidates: candidates, log: request.log,
            client: channelContext
        ) { [self, request, admission] outcome in
            settle(request, admission, outcome, channelContext)
        }
        self.exchange = exchange
        perform(machine.exchangeStarted(), channelContext)
        exchange.start()
    }

    /// Answers `GET /v1/models` itself (``ModelListing``), from what the backend checks last read:
    /// no worker is asked while the client waits.
    private func listModels(tier: Tier, request: Request, _ channelContext: ChannelHandlerContext) {
        let loads = context.board.current
        let models = ModelListing.routable(router: context.router, tier: tier, loads: loads)
        let entries = context.board.modelEntries
        let described = context.router.listing(loads: loads).map { entries[$0] }
        request.log.info("request served", metadata: ["http.status": "200", "models": "\(models.count)"])
        GatewayAnswer.writeJSON(
            status: .ok, body: ModelListing.body(models: models, described: described), request: request,
            keepAlive: request.keepAlive && !machine.draining, to: channelContext
        )
    }

    /// Answers `GET /v1/receipts…` (``ReceiptAPI``); a receipt not yet in a checkpoint is waited for.
    private func answerReceipts(
        _ route: ReceiptAPI.Route, _ request: Request, tenant: String, _ channelContext: ChannelHandlerContext
    ) {
        context.receiptAPI.answer(
            route, query: ReceiptAPI.query(of: request.head.uri), tenant: tenant, on: channelContext.eventLoop
        ).assumeIsolated().whenComplete { [self] result in
            guard case .readingReceipts = machine.state else { return }
            switch result {
            case .success(let body):
                GatewayAnswer.writeJSON(
                    status: .ok, body: body, request: request, keepAlive: request.keepAlive && !machine.draining,
                    to: channelContext
                )
                request.log.info("request served", metadata: ["http.status": "200"])
                request.record(200, in: context)
                perform(machine.receiptsRead(), channelContext)
            case .failure(let error as OpenAIError):
                perform(machine.receiptsFailed(.init(error: error)), channelContext)
            case .failure(let error):
                request.log.warning("receipt log unreadable", metadata: ["error": "\(error)"])
                perform(machine.receiptsFailed(.init(error: .receiptLogUnreadable)), channelContext)
            }
        }
    }
}
