import Foundation

/// Requests each WireGuard peer has in flight, against `max_streams_per_peer`: one peer's flood
/// of parallel requests waits its turn instead of occupying every worker slot.
public final class StreamCounter: @unchecked Sendable {
    let limit: Int
    private let lock = NSLock()
    private var open: [Int64: Int] = [:]

    /// `limit` 0 means unlimited.
    public init(limit: Int) {
        self.limit = limit
    }

    /// Counts a request for `peer` in, or returns false when the peer is at its limit.
    public func acquire(peer: Int64) -> Bool {
        lock.lock()
        defer { lock.unlock() }
        let current = open[peer, default: 0]
        if limit > 0, current >= limit { return false }
        open[peer] = current + 1
        return true
    }

    /// Counts a request out; every successful ``acquire(peer:)`` is paired with one release.
    public func release(peer: Int64) {
        lock.lock()
        defer { lock.unlock() }
        let remaining = open[peer, default: 1] - 1
        open[peer] = remaining > 0 ? remaining : nil
    }

    /// The peer's requests in flight.
    public func count(peer: Int64) -> Int {
        lock.lock()
        defer { lock.unlock() }
        return open[peer, default: 0]
    }
}
