import Addressing
import Foundation
import Registry
import Sodium

/// A registry in a fresh temporary directory with tenant "acme" and a /29 pool (.2 to .6).
struct TemporaryRegistry {
    let store: RegistryStore
    let pool = IPPrefix("10.77.0.0/29")!
    let popAddress = IPAddress("10.77.0.1")!
    /// A fixed "now", so expiry and rotation are tested at chosen instants.
    let start = Date(timeIntervalSince1970: 1_900_000_000)

    init() throws {
        let directory = NSTemporaryDirectory() + "popgate-registry-\(UUID().uuidString)"
        store = try RegistryStore(path: directory + "/registry.sqlite")
        try store.addTenant(name: "acme")
    }

    static func newKey() -> Curve25519PublicKey { Curve25519PrivateKey().publicKey }

    @discardableResult
    func addPeer(
        _ name: String, key: Curve25519PublicKey = newKey(), expiresIn: TimeInterval? = nil, at offset: TimeInterval = 0
    ) throws -> Peer {
        try store.addPeer(
            tenant: "acme", name: name, publicKey: key, presharedKey: WireGuardPresharedKey(), pool: pool,
            reserved: [popAddress], expiresAt: expiresIn.map { start.addingTimeInterval($0) },
            now: start.addingTimeInterval(offset)
        )
    }

    func at(_ offset: TimeInterval) -> Date { start.addingTimeInterval(offset) }
}
