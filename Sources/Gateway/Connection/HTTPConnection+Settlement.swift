import Addressing
import Logging
import NIOCore
import NIOHTTP1
import PopConfig
import Receipts
import Registry

/// Where every request's end is settled: its receipt first, then its answer's end. A request that
/// reaches the end of its answer has its status, backend, tokens, charge and metrics recorded
/// here, and so does one that ends without an answer.
extension HTTPConnection {
    /// A refusal: answered once its receipt is written, logged and counted.
    func refuse(
        _ request: Request, _ refusal: HTTPConnectionStateMachine.Refusal,
        then continuation: HTTPConnectionStateMachine.Continuation, _ channelContext: ChannelHandlerContext
    ) {
        let error = refusal.error
        conclude(request, status: error.status.code, channelContext) { [self] in
            GatewayAnswer.write(
                error: error, request: request, keepAlive: continuation == .nextRequest, to: channelContext,
                extraHeaders: refusal.extraHeaders
            )
            request.log.info("request refused", metadata: ["http.status": "\(error.status.code)", "error.code": "\(error.code ?? "")"])
            request.record(error.status.code, in: context)
            perform(machine.answerWritten(continuation), channelContext)
        }
    }

    /// A proxied exchange's end (``ProxyExchange/Outcome``): the stream slot back, the tokens charged
    /// and counted, the receipt, then the gateway's own answer if no backend gave one, and the end.
    func settle(_ request: Request, _ admission: Admission, _ outcome: ProxyExchange.Outcome, _ channelContext: ChannelHandlerContext) {
        exchange = nil
        release(admission, stream: admission.isStream)
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
        conclude(
            request, status: outcome.status, backend: outcome.backend ?? "", modelVersion: outcome.modelVersion,
            usage: outcome.usage, ending: .exchange, channelContext
        ) { [self] in
            if let error = outcome.gatewayError {
                GatewayAnswer.write(
                    error: error, request: request,
                    keepAlive: request.keepAlive && outcome.continuation == .nextRequest && !machine.draining,
                    to: channelContext
                )
            }
            if let remainder = outcome.remainder {
                channelContext.write(NIOAny(HTTPServerResponsePart.body(.byteBuffer(remainder))), promise: nil)
            }
            // The answer is flushed before the log line is made and written: the client does not
            // wait for it. (A pipelined request may be begun, and logged, in its end already.)
            perform(machine.exchangeEnded(outcome.continuation), channelContext)
            logServed(request, outcome)
        }
    }

    /// A request that ends without an answer: the client closed the connection (499) or the gateway
    /// did (444). It is counted and receipted all the same.
    func abandon(_ request: Request, status: UInt) {
        request.log.info(
            status == HTTPConnectionStateMachine.clientClosedRequest
                ? "client closed the connection before the answer" : "connection closed before the answer",
            metadata: ["http.status": "\(status)"]
        )
        request.record(status, in: context)
        _ = writeReceipt(request, status: status)
    }

    /// Runs `answer` once the request's receipt is written: only then does the client get the end
    /// of its answer, so every receipt id a client has seen a whole answer with is in the log.
    /// When the receipt cannot be written, the connection is closed without that end: `ending` is
    /// the machine's event that ends this answer (the gateway's own, or a proxied exchange's), sent
    /// with `.cut`.
    func conclude(
        _ request: Request, status: UInt, backend: String = "", modelVersion: String = "",
        usage: ProxyExchangeStateMachine.Usage? = nil, ending: Ending = .answer,
        _ channelContext: ChannelHandlerContext, answer: () -> Void
    ) {
        guard writeReceipt(request, status: status, backend: backend, modelVersion: modelVersion, usage: usage) else {
            switch ending {
            case .answer: return perform(machine.answerWritten(.cut), channelContext)
            case .exchange: return perform(machine.exchangeEnded(.cut), channelContext)
            }
        }
        answer()
    }

    /// What a concluded request's end is to the connection's state machine: the end of an answer
    /// the gateway wrote itself (``HTTPConnectionStateMachine/answerWritten(_:)``), or of a proxied
    /// exchange (``HTTPConnectionStateMachine/exchangeEnded(_:)``). Sending the wrong one leaves
    /// the connection open with nothing more to write.
    enum Ending {
        case answer, exchange
    }

    /// Writes the request's receipt; false when it could not be (a request that gets none is fine).
    private func writeReceipt(
        _ request: Request, status: UInt, backend: String = "", modelVersion: String = "",
        usage: ProxyExchangeStateMachine.Usage? = nil
    ) -> Bool {
        guard request.isReceipted, let peer = request.peerKey else { return true }
        let receipt = Receipt(
            id: request.receiptID, session: session, timeMicroseconds: 0 /* stamped by the log */, tenant: request.tenantLabel,
            peer: peer, model: request.model, modelVersion: modelVersion, tier: request.tierLabel, backend: backend,
            status: UInt16(clamping: status), usage: usage.map(Receipt.Usage.init)
        )
        do {
            try context.receipts.append(receipt)
            return true
        } catch {
            request.log.warning("receipt not written", metadata: ["error": "\(error)"])
            return false
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
}
