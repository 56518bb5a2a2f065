import Addressing
import Foundation
import Registry
import RegistryLocations
import Sodium

/// A registry in a fresh database with tenant "acme" and a /29 pool (.2 to .6).
struct TemporaryRegistry {
    let store: RegistryStore
    /// The SQLite file, for the tests of what only SQLite has (file mode, inotify); nil on PostgreSQL.
    let sqlitePath: String?
    let pool = IPPrefix("10.77.0.0/29")!
    let popAddress = IPAddress("10.77.0.1")!
    /// A fixed "now", so expiry and rotation are tested at chosen instants.
    let start = Date(timeIntervalSince1970: 1_900_000_000)

    init(_ engine: RegistryEngine = .sqlite, tenant: String? = "acme") throws {
        let location = try engine.freshLocation()
        if case .sqlite(let path) = location { sqlitePath = path } else { sqlitePath = nil }
        store = try RegistryStore(location: location)
        if let tenant { try store.addTenant(name: tenant) }
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
