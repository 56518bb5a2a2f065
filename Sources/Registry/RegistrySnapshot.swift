import Addressing

/// Everything a daemon needs from the registry at one revision, read in one transaction.
public struct RegistrySnapshot: Sendable {
    /// The revision the snapshot was read at.
    public let revision: Int64
    /// Live peers by tunnel address.
    public let peersByAddress: [IPAddress: Peer]
    /// Live API keys by key id.
    public let apiKeysByID: [String: APIKeyRecord]

    /// Creates a snapshot.
    public init(revision: Int64, peers: [Peer], apiKeys: [APIKeyRecord]) {
        self.revision = revision
        peersByAddress = Dictionary(peers.map { ($0.address, $0) }, uniquingKeysWith: { first, _ in first })
        apiKeysByID = Dictionary(apiKeys.map { ($0.keyID, $0) }, uniquingKeysWith: { first, _ in first })
    }

    /// An empty registry.
    public static let empty = RegistrySnapshot(revision: -1, peers: [], apiKeys: [])

    /// Live peers, sorted by address.
    public var activePeers: [Peer] { peersByAddress.values.sorted { $0.address < $1.address } }
}
