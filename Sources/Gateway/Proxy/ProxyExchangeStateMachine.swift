import NIOCore
import NIOHTTP1

/// The life of one model-routed request on its way through a worker, as a pure state machine:
/// each event (a worker connection obtained or refused, the worker's head, a piece of its body,
/// its end or failure, the client's writability or departure, an interruption by the gateway)
/// returns the one action its driver, ``ProxyExchange``, carries out.
///
/// Every way an exchange can end returns one ``Settlement``, and only one: after it the machine
/// is `.settled` and answers every event with `.none` (or, for a connection that arrives late,
/// with closing it). The settlement carries all a request's end must record: the status, the
/// backend that answered, the tokens (the worker's report, or what was relayed when the stream was
/// cut before one came), and how the client's answer ends.
///
/// The states and events are tabled in docs/architecture.md, and every pair is tested
/// (ProxyExchangeStateMachineTests).
struct ProxyExchangeStateMachine {
    /// A backend the request may go to, best first.
    struct Candidate: Equatable {
        /// The backend's index in the router's list.
        let backend: Int
        let name: String
        /// What the stream filter removes on the client's behalf from this backend's stream.
        var streamOptions = StreamFilterOptions()
    }

    enum State {
        /// Not started yet.
        case initial
        /// Waiting for a connection to `candidates[attempt.candidate]`.
        case connecting(Attempt)
        /// The request went out; the worker's head is awaited.
        case awaitingHead(Attempt)
        /// The worker's head went on to the client; its body is being relayed.
        case relaying(Relay)
        /// Ended; ``Settlement`` was returned.
        case settled
    }

    struct Attempt: Equatable {
        var candidate: Int
        /// Whether this backend was already asked again on a fresh connection.
        var retriedIdleConnection = false
    }

    struct Relay {
        let backend: Int
        let status: HTTPResponseStatus
        var meter: ResponseMeter
        /// Whether the client's connection can take more (reading from the worker stops when not).
        var clientWritable: Bool
    }

    /// How the worker connection failed, as far as the next step depends on it.
    enum WorkerFailure: Equatable {
        /// The worker sent nothing for the idle timeout: it is hung.
        case silent
        /// Closed or broken. `afterEarlierAnswers`: the connection had answered requests before and
        /// idled in the pool, where the worker may have closed it just as it was taken.
        case broken(afterEarlierAnswers: Bool)
    }

    enum Action {
        /// Ask the pool for a connection to `backend` (a new one when `fresh`); unless `fresh`, this
        /// starts an attempt on it, which the backend's load counts until it ends.
        case connect(backend: Int, fresh: Bool)
        /// `failed` could not be reached, failed before answering or answered that it cannot serve now:
        /// its attempt ends and counts as a failure, its connection (if any) is given up, and an attempt
        /// on `next` starts.
        case failOver(failed: Int, next: Int)
        /// Send the request on the connection just obtained.
        case sendRequest(backend: Int)
        /// A connection that came after the exchange ended: close it.
        case closeConnection
        /// Pass the worker's head on to the client.
        case forwardHead(HTTPResponseStatus, backend: Int)
        /// Pass these bytes on (not flushed).
        case forward(ByteBuffer)
        case flush
        /// Stop or resume reading the worker's answer.
        case setWorkerReading(Bool)
        case settle(Settlement)
        case none
    }

    /// The tokens of a request, and where the count came from.
    enum Usage: Equatable {
        /// As the worker reported them (at the end, or with vLLM's continuous usage, up to the cut).
        case reported(TokenUsage)
        /// Counted by the gateway: the pieces of text relayed, and the prompt tokens when the worker
        /// had reported them (zero otherwise).
        case counted(TokenUsage)

        var tokens: TokenUsage {
            switch self {
            case .reported(let tokens), .counted(let tokens): tokens
            }
        }
    }

    struct Settlement {
        enum AnswerEnd: Equatable {
            /// The answer is whole: its end goes out once the receipt is written, and the connection
            /// may serve the next request.
            case whole
            /// A stream ended early by the gateway: `lastEvent` (an error in OpenAI's shape) and the
            /// stream's end go out once the receipt is written, then the connection closes.
            case streamError(lastEvent: [UInt8])
            /// A body cut short: no end is written, the connection closes.
            case cut
            /// No answer had begun: the gateway answers `error` itself, then the connection stays
            /// open (`keepAlive`) or closes.
            case gatewayAnswer(OpenAIError, keepAlive: Bool)
            /// The client has gone: nothing is written.
            case clientGone
        }

        enum Attempt: Equatable {
            /// The answering attempt ended normally.
            case ended(backend: Int)
            /// It ended by the backend's failure, which counts against its health.
            case failed(backend: Int)
        }

        var status: UInt
        /// The backend that answered (sent a head), if any.
        var backend: Int? = nil
        var usage: Usage? = nil
        /// Bytes still to pass on before the end (the rest of a stream the filter held).
        var remainder: ByteBuffer? = nil
        var end: AnswerEnd
        /// The attempt in progress when the exchange ended, for the backend's load and health.
        var attempt: Attempt? = nil
        /// Whether the worker connection must be closed (its answer is given up).
        var abandonsWorker = false
    }

    let candidates: [Candidate]
    private(set) var state = State.initial

    init(candidates: [Candidate]) {
        precondition(!candidates.isEmpty, "an exchange needs at least one candidate backend")
        self.candidates = candidates
    }

    // MARK: Events

    mutating func start() -> Action {
        guard case .initial = state else { return .none }
        state = .connecting(Attempt(candidate: 0))
        return .connect(backend: candidates[0].backend, fresh: false)
    }

    /// The pool gave a connection for the attempt in progress.
    mutating func connected() -> Action {
        switch state {
        case .connecting(let attempt):
            state = .awaitingHead(attempt)
            return .sendRequest(backend: candidates[attempt.candidate].backend)
        case .initial, .awaitingHead, .relaying, .settled:
            return .closeConnection
        }
    }

    /// The pool could not connect to the backend of the attempt in progress.
    mutating func connectFailed() -> Action {
        guard case .connecting(let attempt) = state else { return .none }
        return failOver(from: attempt)
    }

    mutating func workerResponded(status: HTTPResponseStatus, isEventStream: Bool) -> Action {
        guard case .awaitingHead(let attempt) = state else { return .none }
        // 503 is a worker saying it cannot serve the request now (llama.cpp while it loads its model, a
        // restarted worker the checks have not caught yet): nothing has reached the client, so another
        // backend is asked, as for a connection refused. The last candidate's 503 is relayed as it is.
        if status == .serviceUnavailable, attempt.candidate + 1 < candidates.count {
            return failOver(from: attempt)
        }
        let backend = candidates[attempt.candidate].backend
        let options = candidates[attempt.candidate].streamOptions
        let meter: ResponseMeter =
            isEventStream
            ? .events(UsageStreamFilter(options))
            : .body(UsageTail())
        state = .relaying(Relay(backend: backend, status: status, meter: meter, clientWritable: true))
        return .forwardHead(status, backend: backend)
    }

    mutating func workerSent(_ chunk: ByteBuffer) -> Action {
        guard case .relaying(var relay) = state else { return .none }
        state = .settled  // so the meter is uniquely referenced while it changes
        let out = relay.meter.pass(chunk)
        state = .relaying(relay)
        return out.readableBytes > 0 ? .forward(out) : .none
    }

    /// What one read from the worker brought has been passed on.
    mutating func workerReadComplete() -> Action {
        guard case .relaying = state else { return .none }
        return .flush
    }

    mutating func workerFinished() -> Action {
        guard case .relaying(var relay) = state else { return .none }
        state = .settled
        let rest = relay.meter.finish()
        return .settle(Settlement(
            status: relay.status.code, backend: relay.backend, usage: relay.meter.usage(complete: true),
            remainder: rest.readableBytes > 0 ? rest : nil, end: .whole, attempt: .ended(backend: relay.backend),
            abandonsWorker: false
        ))
    }

    mutating func workerFailed(_ failure: WorkerFailure) -> Action {
        switch state {
        case .awaitingHead(var attempt):
            // A kept-alive connection the worker closed while it idled in the pool: once more, on a
            // new connection, before the backend is blamed. Not a worker that stayed silent: a new
            // connection would wait as long again on the same hung process.
            if case .broken(afterEarlierAnswers: true) = failure, !attempt.retriedIdleConnection {
                attempt.retriedIdleConnection = true
                state = .connecting(attempt)
                return .connect(backend: candidates[attempt.candidate].backend, fresh: true)
            }
            return failOver(from: attempt)
        case .relaying(let relay):
            state = .settled
            // The status is already sent. A stream ends with an error event in OpenAI's shape, which
            // the SDKs raise; any other body is cut short by closing the connection.
            return .settle(cutShort(relay, by: .backendFailedMidStream, attempt: .failed(backend: relay.backend)))
        case .initial, .connecting, .settled:
            // A failure while connecting comes as connectFailed; a connection's end after settling is news to no one.
            return .none
        }
    }

    /// The client's connection became writable, or full.
    mutating func clientWritabilityChanged(_ writable: Bool) -> Action {
        guard case .relaying(var relay) = state, relay.clientWritable != writable else { return .none }
        relay.clientWritable = writable
        state = .relaying(relay)
        return .setWorkerReading(writable)
    }

    /// The client closed its connection: the worker's answer is given up (closing its connection is
    /// what makes an engine stop generating), and what was relayed is what the request used.
    mutating func clientClosed() -> Action {
        switch state {
        case .initial:
            state = .settled
            return .settle(Settlement(status: 499, end: .clientGone, abandonsWorker: false))
        case .connecting(let attempt), .awaitingHead(let attempt):
            state = .settled
            return .settle(Settlement(
                status: 499, end: .clientGone, attempt: .ended(backend: candidates[attempt.candidate].backend),
                abandonsWorker: true
            ))
        case .relaying(let relay):
            state = .settled
            return .settle(Settlement(
                status: 499, backend: relay.backend, usage: relay.meter.usage(complete: false), end: .clientGone,
                attempt: .ended(backend: relay.backend), abandonsWorker: true
            ))
        case .settled:
            return .none
        }
    }

    /// The gateway ends the exchange now (the key or peer was revoked, the drain ran out): a stream
    /// already begun gets `error` as its last event and its end, any other body already begun is cut
    /// short, and an answer not begun is `error` itself. The connection closes after it.
    mutating func interrupt(with error: OpenAIError) -> Action {
        switch state {
        case .initial:
            state = .settled
            return .settle(Settlement(
                status: error.status.code, end: .gatewayAnswer(error, keepAlive: false), abandonsWorker: false
            ))
        case .connecting(let attempt), .awaitingHead(let attempt):
            state = .settled
            return .settle(Settlement(
                status: error.status.code, end: .gatewayAnswer(error, keepAlive: false),
                attempt: .ended(backend: candidates[attempt.candidate].backend), abandonsWorker: true
            ))
        case .relaying(let relay):
            state = .settled
            var settlement = cutShort(relay, by: error, attempt: .ended(backend: relay.backend))
            settlement.abandonsWorker = true
            return .settle(settlement)
        case .settled:
            return .none
        }
    }

    // MARK: Helpers

    /// The next candidate after `attempt`'s failed, or the gateway's 502 when none is left.
    private mutating func failOver(from attempt: Attempt) -> Action {
        let failed = candidates[attempt.candidate].backend
        let next = attempt.candidate + 1
        guard next < candidates.count else {
            state = .settled
            return .settle(Settlement(
                status: OpenAIError.upstreamUnavailable(candidates[0].name).status.code,
                end: .gatewayAnswer(.upstreamUnavailable(candidates[0].name), keepAlive: true),
                attempt: .failed(backend: failed), abandonsWorker: false
            ))
        }
        state = .connecting(Attempt(candidate: next))
        return .failOver(failed: failed, next: candidates[next].backend)
    }

    /// A begun answer ended early with `error`: an error event for a stream, a cut for any other body.
    private func cutShort(_ relay: Relay, by error: OpenAIError, attempt: Settlement.Attempt) -> Settlement {
        // What the filter still holds is an incomplete event: it is not passed on before the error.
        let isStream = relay.meter.isEventStream
        return Settlement(
            status: error.status.code, backend: relay.backend, usage: relay.meter.usage(complete: false),
            end: isStream ? .streamError(lastEvent: error.event) : .cut, attempt: attempt, abandonsWorker: false
        )
    }
}

/// What the stream filter removes on the client's behalf (``UsageStreamFilter``).
struct StreamFilterOptions: Equatable {
    /// The gateway asked for the final usage chunk; the client did not.
    var removesUsageChunk = false
    /// The gateway asked for vLLM's continuous usage; the client did not.
    var removesChunkUsage = false
    /// The gateway asked for llama.cpp's `timings` in every chunk; the client did not.
    var removesChunkTimings = false
}
