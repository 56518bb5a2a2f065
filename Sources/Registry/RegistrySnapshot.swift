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
    /// Live peers, by registry id. Stored, not computed: popnetd's loop reads it several times a pass.
    public let activePeers: [Peer]
    /// The earliest expiry among its peers: the instant this snapshot stops being true.
    public let nextExpiry: Date?

    /// Creates a snapshot of live `peers`.
    public init(revision: Int64, peers: [Peer], apiKeys: [APIKeyRecord]) {
        self.revision = revision
        peersByAddress = Dictionary(peers.map { ($0.address, $0) }, uniquingKeysWith: { first, _ in first })
        apiKeysByID = Dictionary(apiKeys.map { ($0.keyID, $0) }, uniquingKeysWith: { first, _ in first })
        nextExpiry = peers.compactMap(\.expiresAt).min()
        activePeers = peersByAddress.values.sorted { $0.id < $1.id }
    }

    private init(revision: Int64, peersByAddress: [IPAddress: Peer], apiKeysByID: [String: APIKeyRecord]) {
        self.revision = revision
        self.peersByAddress = peersByAddress
        self.apiKeysByID = apiKeysByID
        nextExpiry = peersByAddress.values.compactMap(\.expiresAt).min()
        activePeers = peersByAddress.values.sorted { $0.id < $1.id }
    }

    /// This snapshot with `changedPeers` (every peer changed since it, live or not) applied, at
    /// `revision`. Peers that stopped being live, by a write or by the clock, leave it.
    func updating(revision: Int64, changedPeers: [Peer], apiKeys: [APIKeyRecord], now: Date) -> RegistrySnapshot {
        var byID = Dictionary(uniqueKeysWithValues: activePeers.map { ($0.id, $0) })
        for peer in changedPeers { byID[peer.id] = peer.isLive(at: now) ? peer : nil }
        return RegistrySnapshot(
            revision: revision, peers: byID.values.filter { $0.isLive(at: now) }, apiKeys: apiKeys
        )
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
