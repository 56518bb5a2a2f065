import Addressing
import Foundation

/// Everything a daemon needs from the registry at one revision, read in one transaction.
///
/// Besides the revision, a snapshot goes stale when its earliest expiry passes: expiry is not a
/// registry write, so the revision does not move then, and followers reload by the clock.
public struct RegistrySnapshot: Sendable {
    /// The revision the snapshot was read at.
    public let revision: Int64
    /// Live peers by tunnel address.
    public let peersByAddress: [IPAddress: Peer]
    /// Live API keys by key id.
    public let apiKeysByID: [String: APIKeyRecord]
    /// The earliest expiry among its peers: the instant this snapshot stops being true.
    public let nextExpiry: Date?

    /// Creates a snapshot of live `peers`.
    public init(revision: Int64, peers: [Peer], apiKeys: [APIKeyRecord]) {
        self.revision = revision
        peersByAddress = Dictionary(peers.map { ($0.address, $0) }, uniquingKeysWith: { first, _ in first })
        apiKeysByID = Dictionary(apiKeys.map { ($0.keyID, $0) }, uniquingKeysWith: { first, _ in first })
        nextExpiry = peers.compactMap(\.expiresAt).min()
    }

    private init(revision: Int64, peersByAddress: [IPAddress: Peer], apiKeysByID: [String: APIKeyRecord]) {
        self.revision = revision
        self.peersByAddress = peersByAddress
        self.apiKeysByID = apiKeysByID
        nextExpiry = peersByAddress.values.compactMap(\.expiresAt).min()
    }

    /// The same snapshot without the peers that have expired at `now`. For a follower that cannot
    /// read the registry: it keeps enforcing the last snapshot (fail static), but never past an expiry.
    public func pruned(at now: Date) -> RegistrySnapshot {
        guard let nextExpiry, nextExpiry <= now else { return self }
        let live = peersByAddress.filter { $0.value.isLive(at: now) }
        return RegistrySnapshot(revision: revision, peersByAddress: live, apiKeysByID: apiKeysByID)
    }

    /// An empty registry.
    public static let empty = RegistrySnapshot(revision: -1, peers: [], apiKeys: [])

    /// Live peers, sorted by address.
    public var activePeers: [Peer] { peersByAddress.values.sorted { $0.address < $1.address } }

    /// True when a reload is due: the registry moved on to `currentRevision`, or a peer expired.
    public func isStale(currentRevision: Int64, now: Date) -> Bool {
        currentRevision != revision || (nextExpiry.map { $0 <= now } ?? false)
    }

    /// How long from `now` until the next expiry (zero if it has passed), or nil when no peer expires.
    /// Followers sleep no longer than this, so an expiry takes effect on time, not at the next poll.
    public func timeUntilNextExpiry(from now: Date) -> Duration? {
        // Capped at a day: a far-off expiry must not overflow, and the caller polls far more often anyway.
        nextExpiry.map { .microseconds(max(0, Int64((min($0.timeIntervalSince(now), 86_400) * 1_000_000).rounded()))) }
    }
}
