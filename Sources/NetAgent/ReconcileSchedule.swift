import Foundation
import Registry

/// When popnetd's loop runs a reconcile pass and how long it sleeps: pure, so it is tested
/// without waiting.
///
/// A pass is due when the registry changed, when the last pass failed, when the full-check
/// interval has passed (drift repair), and at every poll while a key rotation is pending: the
/// rotation completes on the new key's first handshake, which only a device read shows, and the
/// old key should stop within a poll interval of it, not a full-check interval. That is one device
/// read per poll only while a rotation waits. Expiries need no rule here: they make the snapshot
/// stale, which reloads it.
struct ReconcileSchedule {
    let poll: Duration
    let fullCheck: Duration
    private var lastPass: ContinuousClock.Instant?
    private var pending = true

    init(poll: Duration, fullCheck: Duration) {
        self.poll = poll
        self.fullCheck = fullCheck
    }

    mutating func registryChanged() { pending = true }
    mutating func passFailed() { pending = true }
    mutating func passStarted(at instant: ContinuousClock.Instant) { lastPass = instant }
    mutating func passSucceeded() { pending = false }

    func passDue(at instant: ContinuousClock.Instant, peers: [Peer]) -> Bool {
        if pending || peers.contains(where: { $0.rotation != nil }) { return true }
        guard let lastPass else { return true }
        return instant - lastPass >= fullCheck
    }

    /// The poll interval, shortened so the loop wakes for the next expiry or rotation deadline.
    /// Instants already past count for nothing: when the registry cannot be read or written, the
    /// loop keeps polling at its interval instead of spinning.
    func sleep(wallClock now: Date, snapshot: RegistrySnapshot?) -> Duration {
        let instants = [snapshot?.nextExpiry, snapshot.flatMap { RotationCheck.nextDeadline(peers: $0.activePeers) }]
        var delay = poll
        for case let instant? in instants where instant > now {
            let microseconds = (min(instant.timeIntervalSince(now), 86_400) * 1_000_000).rounded()
            delay = min(delay, .microseconds(Int64(microseconds)))
        }
        return delay
    }
}
