import Foundation
import Registry

/// How a reconcile pass learns what the device holds (see ``ReconcileSchedule``).
public enum ReconcilePass: Sendable, Equatable {
    /// From the last pass and the changes applied since: no device read.
    case fromRegistry
    /// From a fresh read of the device; repairs drift.
    case againstDevice
}

/// When popnetd's loop runs a reconcile pass, which kind, and how long it sleeps: pure, so it is
/// tested without waiting.
///
/// Two kinds of pass. A registry change alone is applied *from the registry*: the change is the
/// difference between the desired state last applied and the new one, with no device read, which
/// with 10,000 peers would cost more than everything else together. A pass *against the device*
/// reads it and repairs whatever differs: due first, after a failure, every full-check interval
/// (drift repair), and at every poll while a key rotation is pending, because the rotation
/// completes on the new key's first handshake, which only a device read shows (one read per poll,
/// only while a rotation waits). Expiries need no rule here: they make the snapshot stale, which
/// reloads it and counts as a registry change.
struct ReconcileSchedule {
    typealias Pass = ReconcilePass

    let poll: Duration
    let fullCheck: Duration
    private var lastDeviceRead: ContinuousClock.Instant?
    private var registryPending = true
    private var failed = false

    init(poll: Duration, fullCheck: Duration) {
        self.poll = poll
        self.fullCheck = fullCheck
    }

    mutating func registryChanged() { registryPending = true }

    mutating func passStarted(_ pass: Pass, at instant: ContinuousClock.Instant) {
        if pass == .againstDevice { lastDeviceRead = instant }
    }

    mutating func passSucceeded() {
        registryPending = false
        failed = false
    }

    mutating func passFailed() { failed = true }

    /// The pass due at `instant`, or nil when none is.
    func due(at instant: ContinuousClock.Instant, peers: [Peer]) -> Pass? {
        guard !failed, let lastDeviceRead, instant - lastDeviceRead < fullCheck,
            !peers.contains(where: { $0.rotation != nil })
        else { return .againstDevice }
        return registryPending ? .fromRegistry : nil
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
