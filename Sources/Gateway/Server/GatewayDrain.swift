import Logging
import NIOCore

/// popgated's graceful stop, once its listener has closed (docs/architecture.md, "Drain").
///
/// Every connection is told (``HTTPConnection/drain(_:)``): an idle one closes at once, a busy one
/// after its answer. The drain then waits for all of them to close, up to `gateway.drain_timeout_s`.
/// What is still in flight then is ended the way a revocation ends it, each request settled and
/// receipted once (``HTTPConnection/drainTimedOut(_:)``); the last bytes of those answers get
/// ``lastWrites`` to leave, and whatever is still open after that is closed. The waits are on the
/// connections' close futures, each bounded by its deadline; a cancelled task skips straight to
/// ending what is in flight.
struct GatewayDrain {
    /// How long the answers ended at the deadline (an error event, a 503) get to reach clients that
    /// read them, before every connection still open is closed.
    static let lastWrites = TimeAmount.seconds(1)

    let connections: LiveConnections
    let timeout: TimeAmount
    /// Where the drain's timers run.
    let loop: any EventLoop
    let logger: Logger

    func run() async {
        let started = NIODeadline.now()
        let cutShort = loop.makePromise(of: Void.self)
        await withTaskCancellationHandler {
            let told = connections.beginDrain(HTTPConnection.drain)
            logger.info("draining: no new connections; answers in flight may finish", metadata: [
                "connections": "\(told)", "drain.timeout_s": "\(timeout.nanoseconds / 1_000_000_000)",
            ])
            if await closed(before: started + timeout, or: cutShort.futureResult) {
                logger.info("drained: every connection closed", metadata: ["drain.ms": "\(milliseconds(since: started))"])
                return
            }
            let open = connections.open
            let ended = (try? await EventLoopFuture.whenAllComplete(open.map(HTTPConnection.drainTimedOut), on: loop).get())?
                .filter { (try? $0.get()) == true }.count ?? 0
            logger.info("drain timed out: requests still in flight ended with server_shutting_down", metadata: [
                "connections": "\(open.count)", "requests": "\(ended)", "drain.ms": "\(milliseconds(since: started))",
            ])
            if await !closed(before: .now() + Self.lastWrites, or: cutShort.futureResult) {
                await connections.closeAll()
            }
        } onCancel: {
            cutShort.succeed()
        }
        cutShort.succeed()  // a promise must not be left unfulfilled
    }

    /// Whether every connection closed before `deadline`; false when it passed first, or `cutShort` came.
    private func closed(before deadline: NIODeadline, or cutShort: EventLoopFuture<Void>) async -> Bool {
        let promise = loop.makePromise(of: Bool.self)
        let timer = loop.scheduleTask(deadline: deadline) { promise.succeed(false) }
        cutShort.whenComplete { _ in promise.succeed(false) }
        connections.allClosed(on: loop).whenComplete { _ in
            timer.cancel()
            promise.succeed(true)
        }
        // Whichever comes first settles it; the later ones find it settled and change nothing.
        return (try? await promise.futureResult.get()) ?? false
    }

    private func milliseconds(since start: NIODeadline) -> Int64 {
        (NIODeadline.now() - start).nanoseconds / 1_000_000
    }
}
