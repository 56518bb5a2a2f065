import Addressing
import Foundation
import PopConfig
import Registry
import Sodium

/// What a test gateway is made of: popgate.toml's text, which the test may change like an operator
/// (limits, timeouts, backends), and the registry's peers with their keys.
package struct GatewaySetup: Sendable {
    /// popgate.toml. A live gateway appends the `[[backends]]` of its workers once their ports are
    /// known, so its text has none of its own.
    package var toml: String
    /// The registry's live peers, each with one key of its tenant.
    package var peers: [TestPeer]

    /// A gateway on loopback: the receipt log signs a checkpoint every 50 ms (the least it may), so a
    /// receipt is readable almost at once; everything else as popgated's defaults have it. A test adds
    /// sections of its own, e.g. `[limits]`.
    package static let loopbackTOML = """
        [wireguard]
        address = "127.0.0.1/8"
        endpoint = "192.0.2.1:51820"

        [receipts]
        checkpoint_interval_ms = 50

        """

    /// The peers at 127.0.0.2 (tenant acme) and 127.0.0.3 (tenant globex) unless given.
    package init(
        toml: String = loopbackTOML,
        peers: [TestPeer] = [
            TestPeer(address: "127.0.0.2", tenant: "acme"), TestPeer(address: "127.0.0.3", tenant: "globex"),
        ]
    ) {
        self.toml = toml
        self.peers = peers
    }

    /// The configuration, as popgated reads it.
    package func configuration() throws -> PopConfiguration {
        try PopConfiguration.parse(toml, path: "test popgate.toml")
    }

    /// The registry snapshot of ``peers``, without the keys of `revokedKeys` (their `apiKey`s) and the
    /// peers of `revokedPeers` (their addresses): a replacement of the directory's snapshot with that is
    /// the revocation `popctl key revoke` or `popctl peer revoke` makes. Peer ids follow the order of
    /// ``peers``, tenant ids the order tenants first appear in, whoever is revoked.
    package func snapshot(
        revision: Int64 = 1, revokingKeys revokedKeys: Set<String> = [], revokingPeers revokedPeers: Set<String> = []
    ) -> RegistrySnapshot {
        var tenantIDs: [String: Int64] = [:]
        for peer in peers where tenantIDs[peer.tenant] == nil { tenantIDs[peer.tenant] = Int64(tenantIDs.count + 1) }
        let registered = peers.enumerated().filter { !revokedPeers.contains($0.element.address) }.map { index, peer in
            guard let address = IPAddress(peer.address) else {
                preconditionFailure("\(peer.address) is not an IP address")
            }
            return Peer(
                id: Int64(index + 1), tenantID: tenantIDs[peer.tenant]!, tenantName: peer.tenant,
                name: "peer-\(peer.address)", publicKey: Self.publicKey(of: peer), address: address,
                presharedKey: nil, state: .active, createdAt: Date(timeIntervalSince1970: 1_800_000_000)
            )
        }
        let keys = peers.filter { !revokedKeys.contains($0.apiKey) }
            .map { $0.keyRecord(tenantID: tenantIDs[$0.tenant]!) }
        return RegistrySnapshot(revision: revision, peers: registered, apiKeys: keys)
    }

    /// A WireGuard public key of the peer's own, as receipts record it: any 32 bytes do, as nothing
    /// here speaks WireGuard.
    private static func publicKey(of peer: TestPeer) -> Curve25519PublicKey {
        do {
            return try Curve25519PublicKey(rawBytes: SHA256.hash(Array("public key of \(peer.address)".utf8)))
        } catch {
            preconditionFailure("32 bytes are a Curve25519 public key: \(error)")
        }
    }
}
