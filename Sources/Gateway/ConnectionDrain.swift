import NIOCore

/// What one client connection does while popgated drains (docs/architecture.md, "Drain"), as pure
/// functions of where the connection is; ``HTTPConnection`` carries the action out.
///
/// A drain reaches a connection twice at most: when it begins (the listener is already closed),
/// and when `gateway.drain_timeout_s` runs out with the connection still open. In between, an
/// answer that ends is the connection's last (``next(after:)``): no next request is served.
enum ConnectionDrain {
    /// Where a connection is, as far as a drain is concerned.
    enum Phase: CaseIterable {
        /// Between requests: nothing in flight.
        case idle
        /// Reading the body of a request already refused; the refusal is answered at its end.
        case refusing
        /// Reading the body of an admitted request.
        case readingRequest
        /// A proxied exchange in flight (``ProxyExchange``).
        case answering
        /// Waiting for the receipt log to answer a `GET /v1/receipts…`.
        case readingReceipts
        /// Closed, closing or silenced: already on its way out.
        case closed
    }

    enum Action: Equatable {
        case none
        /// Close now: FIN, then what the client still sends is read and dropped until it closes or
        /// ``linger`` passes (``closeHandler()``). Nothing is in flight.
        case close
        /// Let what is in flight end; its answer is the connection's last.
        case finishThenClose
        /// End the exchange through ``ProxyExchange/interrupt(with:)``, the path a revocation takes: it is
        /// settled once, with its backend and the tokens relayed so far, receipted, and its client gets
        /// `error` (a stream's last event, or the whole answer when none had begun); then the close.
        case interrupt(OpenAIError)
        /// Answer `error` in place of the receipts being read, then close.
        case answer(OpenAIError)
        /// Close without an answer: the request was not read whole, so it has nothing to answer and no
        /// receipt (as when a revoked peer's connection is cut while a body is still arriving).
        case abandon
    }

    /// How a request still in flight when the drain runs out is ended.
    static let timedOut = OpenAIError.serverShuttingDown

    /// How long a connection the drain closes reads and drops what its client still sends, so that a
    /// request written just before the client saw the FIN does not make the kernel reset the
    /// connection (and destroy the end of the answer before it). Short, because the drain waits for
    /// it: a pooled client never closes an idle connection itself. As long as the over-limit
    /// drain at accept (``GatewayChannelInitializer/overLimitDrain``), for the same reason.
    static let linger = TimeAmount.seconds(1)
    /// What such a connection may send before it is closed anyway: a request head and a small body.
    static let lingerBytes = 64 << 10

    /// The drain begins: a connection with nothing in flight is closed now, any other finishes first.
    static func begin(_ phase: Phase) -> Action {
        switch phase {
        case .idle: .close
        case .refusing, .readingRequest, .answering, .readingReceipts: .finishThenClose
        case .closed: .none
        }
    }

    /// `gateway.drain_timeout_s` has run out and the connection is still open.
    static func deadlinePassed(_ phase: Phase) -> Action {
        switch phase {
        case .idle: .close
        case .answering: .interrupt(timedOut)
        case .readingReceipts: .answer(timedOut)
        case .refusing, .readingRequest: .abandon
        case .closed: .none
        }
    }

    /// How the connection ends after an answer while draining: never kept alive. A pipelined or
    /// kept-alive next request is not served: the connection is closed as by ``Action/close``, so the
    /// client sees a FIN (never a 503, and never a reset from the gateway) and may send it elsewhere.
    /// An end that already closes (a stream cut with an error event) stays as it is.
    static func next(after next: HTTPConnection.Next) -> HTTPConnection.Next {
        switch next {
        case .keepAlive: .silence
        case .close, .silence: next
        }
    }

    /// The handler that closes a connection the drain ends: FIN now, then ``linger``.
    static func closeHandler() -> SilentCloseHandler {
        SilentCloseHandler(drainTimeout: linger, drainLimit: lingerBytes)
    }
}
