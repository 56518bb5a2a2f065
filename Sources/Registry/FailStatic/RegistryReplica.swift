import Foundation

/// Whether a daemon's registry view is the database's own.
public enum RegistryHealth: Sendable, Equatable {
    /// The last read succeeded.
    case synced
    /// The database could not be read since `since`; the daemon enforces its last snapshot.
    case degraded(since: Date, reason: String)

    public var isDegraded: Bool {
        if case .degraded = self { return true }
        return false
    }
}

/// A daemon's view of the registry that outlives the database (fail static).
///
/// While the database answers, it follows it (through the change feed) and, for a PostgreSQL
/// registry, saves each new snapshot to the daemon's ``RegistryLocalCopy``. When the database
/// cannot be read, it keeps the last snapshot it had, from memory or, after a restart, from the
/// local copy, and goes on applying expiries by the clock. When the database answers again, the
/// change feed brings it up to date from that snapshot's revision: only what changed meanwhile
/// moves, so nothing still registered is removed and re-added.
public struct RegistryReplica: Sendable {
    /// What one ``refresh(at:)`` did.
    public struct Refresh: Sendable {
        /// The snapshot differs from the one before (new revision, or peers expired).
        public var changed = false
        /// The health before the refresh, when it changed (to log the transition once).
        public var previousHealth: RegistryHealth?
        /// Saving the local copy failed: the daemon runs on, but a restart while degraded would not
        /// find this snapshot.
        public var copyError: RegistryError?
    }

    /// While degraded, how long to wait between attempts to read the database. Each attempt may
    /// wait out a connect timeout, and a daemon polls several times a second: without a pause an
    /// outage would hammer the server (and the logs) as it comes back.
    public static let retryInterval: TimeInterval = 2

    private let store: RegistryStore
    private let localCopy: RegistryLocalCopy?
    private var lastFailure: Date?
    /// The snapshot to enforce; nil only before the first successful read or load.
    public private(set) var snapshot: RegistrySnapshot?
    public private(set) var health: RegistryHealth = .synced
    /// Where the snapshot came from last: the database, or the local copy after a restart.
    public private(set) var loadedFromLocalCopy = false

    /// A replica of `store`, keeping `localCopy` when there is one (PostgreSQL registries).
    public init(store: RegistryStore, localCopy: RegistryLocalCopy?) {
        self.store = store
        self.localCopy = localCopy
    }

    /// Reads what changed since the last snapshot, or keeps that snapshot if the database cannot be
    /// read. Throws only when there is nothing to enforce at all: the database has never been read
    /// and there is no local copy.
    public mutating func refresh(at now: Date = Date()) throws(RegistryError) -> Refresh {
        var result = Refresh()
        if snapshot != nil, let lastFailure, (0..<Self.retryInterval).contains(now.timeIntervalSince(lastFailure)) {
            keepLast(at: now, in: &result)
            return result
        }
        do {
            let revision = try store.revision()
            if let current = snapshot, !current.isStale(currentRevision: revision, now: now) {
                recordHealth(.synced, in: &result)
                return result
            }
            let next: RegistrySnapshot
            if let previous = snapshot {
                next = try store.snapshot(updating: previous, at: now)
            } else {
                next = try store.snapshot(at: now)
            }
            result.changed = true
            snapshot = next
            loadedFromLocalCopy = false
            recordHealth(.synced, in: &result)
            lastFailure = nil
            do {
                try localCopy?.save(next)
            } catch {
                result.copyError = error
            }
        } catch {
            if snapshot == nil, let saved = try localCopy?.load() {
                snapshot = saved
                loadedFromLocalCopy = true
                result.changed = true
            }
            guard snapshot != nil else {
                let copy = localCopy.map { " (\($0.path))" } ?? ""
                throw RegistryError(
                    .storage, "\(error.message); and there is no local copy of the registry\(copy) to serve from"
                )
            }
            lastFailure = now
            keepLast(at: now, in: &result)
            if !health.isDegraded { recordHealth(.degraded(since: now, reason: error.message), in: &result) }
        }
        return result
    }

    /// The last snapshot, still applying the clock: peers whose expiry passed leave it.
    private mutating func keepLast(at now: Date, in result: inout Refresh) {
        guard let last = snapshot else { return }
        let pruned = last.pruned(at: now)
        if pruned.peersByAddress.count != last.peersByAddress.count { result.changed = true }
        snapshot = pruned
    }

    private mutating func recordHealth(_ new: RegistryHealth, in result: inout Refresh) {
        guard new.isDegraded != health.isDegraded else { return }
        result.previousHealth = health
        health = new
    }
}
