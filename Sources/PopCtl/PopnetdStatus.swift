import Foundation

/// popnetd's status document as popctl reads it (the writer is NetAgent's `StatusDocument`;
/// the protocol is the JSON, documented in docs/architecture.md).
struct PopnetdStatus: Decodable {
    struct Peer: Decodable {
        let publicKey: String
        let endpoint: String?
        let lastHandshake: Date?
        let rxBytes: UInt64
        let txBytes: UInt64
    }

    let backend: String
    let interface: String
    let listenPort: Int
    let publicKey: String
    let peersDesired: Int
    let peersOnDevice: Int
    let rotationsPending: Int?
    let lastReconcile: Date?
    /// `synced` or `degraded` (absent from an older popnetd's document, null before the first read).
    let registryState: String?
    let registryDegradedSince: Date?
    let registryError: String?
    let lastError: String?
    let driftRepairs: Int
    let reconciles: Int
    let peers: [Peer]
    /// Whether popnetd owns the nftables policy (absent from an older popnetd's document).
    let firewall: Bool?
    let firewallPeers: Int?
    let firewallRepairs: Int?
    let firewallError: String?

    /// Parses the document; the error says the reply was not one.
    static func decode(_ data: Data, from path: String) throws(PopctlError) -> PopnetdStatus {
        let decoder = JSONDecoder()
        decoder.keyDecodingStrategy = .convertFromSnakeCase
        decoder.dateDecodingStrategy = .iso8601
        do {
            return try decoder.decode(PopnetdStatus.self, from: data)
        } catch {
            throw PopctlError(
                "the reply on \(path) is not a popnetd status document (\(error)); is this popctl as new as popnetd?"
            )
        }
    }
}
