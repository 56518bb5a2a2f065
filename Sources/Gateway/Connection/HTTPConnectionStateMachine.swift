import NIOCore
import NIOHTTP1

/// The life of one peer connection's HTTP/1.1 requests, one after another, as a pure state machine:
/// each event (a request's head decided, a piece of its body, its end, the dispatch of a whole
/// request, the end of an answer, the client's writability or departure, a revocation, a drain)
/// returns the one action its driver, ``HTTPConnection``, carries out.
///
/// A request ends in exactly one of the actions that settle it: `.refuse` (the gateway's own
/// answer, after its receipt), `.settleExchange` (a proxied answer, after its receipt), `.abandon`
/// (the connection ended before the request could be answered: a 499 receipt when it was admitted
/// or refused, nothing when it was never decided) or the answers the driver makes itself once told
/// to dispatch. The states and events are tabled in docs/architecture.md, and every pair is tested
/// (HTTPConnectionStateMachineTests).
struct HTTPConnectionStateMachine {
    typealias Request = HTTPConnection.Request
    typealias Admission = HTTPConnection.Admission

    enum State {
        /// Between requests.
        case idle
        /// Reading past the body of a refused request; the refusal is answered at its end.
        case refusing(Request, Refusal, bytes: Int)
        /// Reading the body of an admitted request, which holds one of its peer's stream slots.
        case reading(Request, Admission, body: ByteBuffer)
        /// The whole request is in; the driver is deciding how it is answered.
        case dispatching(Request, Admission)
        /// A proxied exchange is in flight (``ProxyExchange``).
        case proxying(Request, Admission)
        /// Waiting for the receipt log to answer a `GET /v1/receipts…`.
        case readingReceipts(Request)
        /// The gateway's own answer is being written.
        case answering(Request)
        /// Closed, closing or silenced: nothing more is read.
        case closed
    }

    struct Refusal: Equatable {
        var error: OpenAIError
        var extraHeaders: HTTPHeaders = [:]
    }

    /// How the connection goes on after an answer.
    enum Continuation: Equatable {
        /// The next request may come (the client asked to keep the connection).
        case nextRequest
        /// Close once the answer is out.
        case close
        /// FIN once the answer is out, then drain what the client still sends (``SilentCloseHandler``).
        case silence
        /// Close without writing the answer's end: a body cut short must not look whole (a chunked
        /// answer's last chunk says it is), or the receipt could not be written.
        case cut
    }

    enum Action {
        case none
        /// Tell a client that waits for `100 Continue` to send its body.
        case sendContinue
        /// Answer `refusal` once its receipt is written, and go on as `then` says (``answerWritten(_:)``
        /// follows); `releasing` is an admission whose stream slot is given back first.
        case refuse(Request, Refusal, releasing: Admission?, then: Continuation)
        /// The whole admitted request is in: decide how it is answered (``exchangeStarted()``,
        /// ``dispatchRefused(_:)``, ``answeredByGateway()`` or ``readingReceipts()`` follows).
        case dispatch(Request, Admission, body: ByteBuffer)
        /// Give the admission's stream slot back: the gateway answers the request itself.
        case release(Admission)
        /// Pass the client's writability on to the exchange in flight.
        case passWritability
        /// End the exchange in flight, which settles through ``exchangeEnded(_:)``: the client left
        /// (nil), or the gateway ends it with this error.
        case endExchange(OpenAIError?)
        /// The request ends unanswered: its receipt says `status` (499 the client closed, 444 the
        /// gateway closed), the slot is given back, and with `close` the connection is silenced (FIN,
        /// then what the client still sends is drained).
        case abandon(Request, status: UInt, releasing: Admission?, close: Bool)
        /// Close with nothing more written.
        case close
        /// Answer nothing more: FIN, then drain what the client still sends.
        case silence
        /// Write the answer's end (its receipt is written), then go on as the continuation says.
        case endAnswer(Continuation)
    }

    /// NGINX's code for a request closed without an answer, as the receipt of one the gateway ended.
    static let closedWithoutAnswer: UInt = 444
    /// NGINX's code for a request whose client closed the connection first.
    static let clientClosedRequest: UInt = 499

    let maxBodyBytes: Int
    private(set) var state = State.idle
    /// popgated drains: the answer in flight is the connection's last.
    private(set) var draining = false

    init(maxBodyBytes: Int) {
        self.maxBodyBytes = maxBodyBytes
    }

    // MARK: A request

    /// A request's head, and the decision on it (``AdmissionPolicy``, limits included).
    mutating func head(_ request: Request, _ decision: HeadDecision) -> Action {
        guard case .idle = state else {
            // HTTPServerPipelineHandler holds a pipelined request back until the answer before it ends:
            // a head here follows a request that did not end.
            return protocolError()
        }
        switch decision {
        case .close:
            state = .closed
            return .close
        case .silence:
            state = .closed
            return .silence
        case .refuse(let refusal):
            if request.expectsContinue {
                // RFC 9110, section 10.1.1: the client waits for 100 Continue before it sends the body;
                // the refusal comes at once instead, and the connection then closes, draining a body
                // sent anyway (a FIN, not a reset).
                state = .answering(request)
                return .refuse(request, refusal, releasing: nil, then: .silence)
            }
            state = .refusing(request, refusal, bytes: 0)
            return .none
        case .admit(let admission):
            state = .reading(request, admission, body: ByteBuffer())
            return request.expectsContinue ? .sendContinue : .none
        }
    }

    mutating func bodyPart(_ chunk: ByteBuffer) -> Action {
        switch state {
        case .refusing(let request, let refusal, let bytes):
            let total = bytes + chunk.readableBytes
            guard total <= maxBodyBytes else {
                state = .closed
                return .abandon(request, status: Self.closedWithoutAnswer, releasing: nil, close: true)
            }
            state = .refusing(request, refusal, bytes: total)
            return .none
        case .reading(let request, let admission, var body):
            state = .closed  // so `body` is the buffer's only owner while it grows
            guard body.readableBytes + chunk.readableBytes <= maxBodyBytes else {
                // Answered at once (a body may never end), and the rest drained.
                state = .answering(request)
                return .refuse(request, Refusal(error: .bodyTooLarge(limit: maxBodyBytes)), releasing: admission, then: .silence)
            }
            var chunk = chunk
            body.writeBuffer(&chunk)
            state = .reading(request, admission, body: body)
            return .none
        case .idle:
            // A body without a head is a protocol error.
            return protocolError()
        case .dispatching, .proxying, .readingReceipts, .answering, .closed:
            return .none
        }
    }

    mutating func end() -> Action {
        switch state {
        case .refusing(let request, let refusal, _):
            state = .answering(request)
            return .refuse(request, refusal, releasing: nil, then: effective(.nextRequest, request))
        case .reading(let request, let admission, let body):
            state = .dispatching(request, admission)
            return .dispatch(request, admission, body: body)
        case .idle:
            return protocolError()
        case .dispatching, .proxying, .readingReceipts, .answering, .closed:
            return .none
        }
    }

    // MARK: How a whole request is answered

    /// The dispatch read the body's model: the request's record (for its receipt and log) names it now.
    mutating func modelRead(_ request: Request) {
        guard case .dispatching(_, let admission) = state else { return }
        state = .dispatching(request, admission)
    }

    mutating func exchangeStarted() -> Action {
        guard case .dispatching(let request, let admission) = state else { return .none }
        state = .proxying(request, admission)
        return .none
    }

    /// The dispatch refused the request (its body, its model, no backend, the token allowance).
    mutating func dispatchRefused(_ refusal: Refusal) -> Action {
        guard case .dispatching(let request, let admission) = state else { return .none }
        state = .answering(request)
        return .refuse(request, refusal, releasing: admission, then: effective(.nextRequest, request))
    }

    /// The gateway answers the request itself (the model listing).
    mutating func answeredByGateway() -> Action {
        guard case .dispatching(let request, let admission) = state else { return .none }
        state = .answering(request)
        return .release(admission)
    }

    /// The receipt log is asked; ``receiptsRead()`` or ``receiptsFailed(_:)`` follows.
    mutating func readingReceipts() -> Action {
        guard case .dispatching(let request, let admission) = state else { return .none }
        state = .readingReceipts(request)
        return .release(admission)
    }

    /// The receipt log answered, and the answer is written but for its end.
    mutating func receiptsRead() -> Action {
        guard case .readingReceipts(let request) = state else { return .none }
        state = .answering(request)
        return answerWritten(.nextRequest)
    }

    mutating func receiptsFailed(_ refusal: Refusal) -> Action {
        guard case .readingReceipts(let request) = state else { return .none }
        state = .answering(request)
        return .refuse(request, refusal, releasing: nil, then: effective(.nextRequest, request))
    }

    /// The answer (a refusal, or the gateway's own) is written but for its end, after its receipt:
    /// `continuation` is what the answer needs of the connection.
    mutating func answerWritten(_ continuation: Continuation) -> Action {
        guard case .answering(let request) = state else { return .none }
        let next = effective(continuation, request)
        state = next == .nextRequest ? .idle : .closed
        return .endAnswer(next)
    }

    /// The exchange in flight ended and is settled, its receipt written; `continuation` is what the
    /// exchange needs of the connection.
    mutating func exchangeEnded(_ continuation: Continuation) -> Action {
        guard case .proxying(let request, _) = state else { return .none }
        state = .answering(request)
        return answerWritten(continuation)
    }

    // MARK: The connection

    mutating func writabilityChanged() -> Action {
        guard case .proxying = state else { return .none }
        return .passWritability
    }

    mutating func clientClosed() -> Action {
        switch state {
        case .proxying:
            // The exchange settles it; its end then finds the connection closed.
            return .endExchange(nil)
        case .reading(let request, let admission, _), .dispatching(let request, let admission):
            state = .closed
            return .abandon(request, status: Self.clientClosedRequest, releasing: admission, close: false)
        case .refusing(let request, _, _), .readingReceipts(let request):
            state = .closed
            return .abandon(request, status: Self.clientClosedRequest, releasing: nil, close: false)
        case .idle, .answering, .closed:
            state = .closed
            return .none
        }
    }

    /// The registry took away this connection's peer (`closing`: the connection ends), or the key of
    /// its request in flight (it ends with `error`, the connection stays).
    mutating func revoked(_ error: OpenAIError, closing: Bool) -> Action {
        switch state {
        case .proxying:
            return .endExchange(error)
        case .reading(let request, let admission, _):
            if closing { return closeWhileReading() }
            // Refused like any request with a revoked key, once its body is read.
            state = .refusing(request, Refusal(error: error), bytes: 0)
            return .release(admission)
        case .readingReceipts(let request):
            state = .answering(request)
            return .refuse(request, Refusal(error: error), releasing: nil, then: .close)
        case .refusing:
            return closing ? closeWhileReading() : .none
        case .idle:
            guard closing else { return .none }
            state = .closed
            return .close
        case .dispatching, .answering, .closed:
            // Dispatching and answering happen within one event: a notice comes after them.
            return .none
        }
    }

    /// popgated drains: a connection with nothing in flight closes now, any other after its answer.
    mutating func drain() -> Action {
        draining = true
        guard case .idle = state else { return .none }
        state = .closed
        return .silence
    }

    /// The drain ran out with this connection still open: what is in flight ends now, as a revocation
    /// ends it, with `error`.
    mutating func drainTimedOut(_ error: OpenAIError) -> Action {
        draining = true
        switch state {
        case .idle:
            state = .closed
            return .silence
        case .proxying:
            return .endExchange(error)
        case .readingReceipts(let request):
            state = .answering(request)
            return .refuse(request, Refusal(error: error), releasing: nil, then: .close)
        case .reading, .refusing:
            return closeWhileReading()
        case .dispatching, .answering, .closed:
            return .none
        }
    }

    // MARK: Helpers

    private mutating func protocolError() -> Action {
        switch state {
        case .reading, .refusing:
            return closeWhileReading()
        case .idle, .dispatching, .proxying, .readingReceipts, .answering, .closed:
            state = .closed
            return .close
        }
    }

    /// The gateway ends the connection while a request's body is still arriving: the request is
    /// settled unanswered (444), its slot given back, and the connection silenced.
    private mutating func closeWhileReading() -> Action {
        let action: Action =
            switch state {
            case .reading(let request, let admission, _):
                .abandon(request, status: Self.closedWithoutAnswer, releasing: admission, close: true)
            case .refusing(let request, _, _):
                .abandon(request, status: Self.closedWithoutAnswer, releasing: nil, close: true)
            case .idle, .dispatching, .proxying, .readingReceipts, .answering, .closed:
                .close
            }
        state = .closed
        return action
    }

    /// What follows an answer: the next request, unless the client, a drain or the answer itself says otherwise.
    private func effective(_ continuation: Continuation, _ request: Request) -> Continuation {
        switch continuation {
        case .nextRequest where !request.keepAlive: .close
        // While draining an answer is the connection's last: a FIN (never a 503, never a reset), so the
        // client may send its next request elsewhere.
        case .nextRequest where draining: .silence
        default: continuation
        }
    }
}

extension HTTPConnectionStateMachine {
    /// The decision on a head, limits included, as the machine takes it.
    enum HeadDecision {
        case admit(Admission)
        case refuse(Refusal)
        case close
        case silence
    }
}
