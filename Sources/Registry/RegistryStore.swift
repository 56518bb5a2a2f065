import Addressing
import Foundation
import GRDB
import Sodium

/// The registry on SQLite: tenants, peers, API keys, and the revision counter daemons follow.
///
/// Opened in WAL mode so `popctl` can write while both daemons read. Every mutating method is
/// one transaction: it either changes everything it says or nothing.
public final class RegistryStore: Sendable {
    private let pool: DatabasePool
    /// The database file.
    public let path: String

    /// Opens (creating if needed, with mode 0600) and migrates the database at `path`.
    public init(path: String) throws(RegistryError) {
        self.path = path
        do {
            let directory = (path as NSString).deletingLastPathComponent
            if !directory.isEmpty {
                try FileManager.default.createDirectory(
                    atPath: directory, withIntermediateDirectories: true, attributes: [.posixPermissions: 0o750]
                )
            }
            var configuration = Configuration()
            configuration.busyMode = .timeout(5)
            configuration.foreignKeysEnabled = true
            let previousMask = umask(0o077)
            defer { umask(previousMask) }
            pool = try DatabasePool(path: path, configuration: configuration)
            try Schema.migrator.migrate(pool)
        } catch {
            throw RegistryError(.storage, "cannot open the registry at \(path): \(error); check the path and its permissions")
        }
    }

    // MARK: Reading

    /// The current revision; it changes whenever anything in the registry changes.
    public func revision() throws(RegistryError) -> Int64 {
        try read { db in try Int64.fetchOne(db, sql: "SELECT revision FROM registry_revision WHERE id = 1") ?? 0 }
    }

    /// Live peers and keys at one consistent revision.
    public func snapshot() throws(RegistryError) -> RegistrySnapshot {
        try read { db in
            let revision = try Int64.fetchOne(db, sql: "SELECT revision FROM registry_revision WHERE id = 1") ?? 0
            let peers = try Self.fetchPeers(db, whereClause: "p.state = 'active'")
            let keys = try Row.fetchAll(
                db, sql: "SELECT key_id, tenant_id, secret_hash, default_tier FROM api_keys WHERE revoked_at IS NULL"
            ).map { row in
                APIKeyRecord(
                    keyID: row["key_id"], tenantID: row["tenant_id"], secretHash: [UInt8](row["secret_hash"] as Data),
                    defaultTier: Tier(rawValue: row["default_tier"]) ?? .medium
                )
            }
            return RegistrySnapshot(revision: revision, peers: peers, apiKeys: keys)
        }
    }

    /// All tenants by name.
    public func tenants() throws(RegistryError) -> [Tenant] {
        try read { db in
            try Row.fetchAll(db, sql: "SELECT id, name, created_at FROM tenants ORDER BY name").map(Self.tenant)
        }
    }

    /// Peers, live only unless `includeRevoked`.
    public func peers(includeRevoked: Bool = false) throws(RegistryError) -> [Peer] {
        try read { db in try Self.fetchPeers(db, whereClause: includeRevoked ? "1" : "p.state = 'active'") }
    }

    // MARK: Changing

    /// Adds a tenant; refused if the name is taken or malformed.
    @discardableResult
    public func addTenant(name: String) throws(RegistryError) -> Tenant {
        try Names.validate(name, what: "tenant")
        return try write { db in
            if try Row.fetchOne(db, sql: "SELECT 1 FROM tenants WHERE name = ?", arguments: [name]) != nil {
                throw RegistryError(.duplicate, "tenant \"\(name)\" already exists; `popctl tenant list` shows all tenants")
            }
            let now = Date()
            try db.execute(sql: "INSERT INTO tenants (name, created_at) VALUES (?, ?)", arguments: [name, now.timeIntervalSince1970])
            return Tenant(id: db.lastInsertedRowID, name: name, createdAt: now)
        }
    }

    /// Records a new active peer with the lowest free address of `pool`, skipping `reserved`
    /// (the PoP's own address).
    public func addPeer(
        tenant tenantName: String, name: String, publicKey: Curve25519PublicKey, presharedKey: WireGuardPresharedKey?,
        pool: IPPrefix, reserved: Set<IPAddress>
    ) throws(RegistryError) -> Peer {
        try Names.validate(name, what: "peer")
        return try write { db in
            let tenant = try Self.requireTenant(db, name: tenantName)
            if try Row.fetchOne(db, sql: "SELECT 1 FROM peers WHERE name = ? AND state = 'active'", arguments: [name]) != nil {
                throw RegistryError(.duplicate, "a live peer named \"\(name)\" already exists; choose another --name")
            }
            if try Row.fetchOne(
                db, sql: "SELECT 1 FROM peers WHERE public_key = ? AND state = 'active'", arguments: [publicKey.base64]
            ) != nil {
                throw RegistryError(.duplicate, "public key \(publicKey) already belongs to a live peer; each device needs its own key")
            }
            let used = Set(try String.fetchAll(db, sql: "SELECT address FROM peers WHERE state = 'active'").compactMap(IPAddress.init))
            guard let address = pool.hostAddresses().first(where: { !used.contains($0) && !reserved.contains($0) }) else {
                throw RegistryError(
                    .poolExhausted,
                    "the address pool \(pool) is exhausted (\(used.count) live peers); revoke unused peers or widen wireguard.pool"
                )
            }
            let now = Date()
            try db.execute(
                sql: """
                    INSERT INTO peers (tenant_id, name, public_key, address, preshared_key, state, created_at)
                    VALUES (?, ?, ?, ?, ?, 'active', ?)
                    """,
                arguments: [tenant.id, name, publicKey.base64, address.description, presharedKey?.base64Secret(), now.timeIntervalSince1970]
            )
            return Peer(
                id: db.lastInsertedRowID, tenantID: tenant.id, tenantName: tenant.name, name: name, publicKey: publicKey,
                address: address, presharedKey: presharedKey, state: .active, createdAt: now
            )
        }
    }

    /// Revokes the live peer with this name or base64 public key.
    @discardableResult
    public func revokePeer(_ nameOrKey: String) throws(RegistryError) -> Peer {
        try write { db in
            let matches = try Self.fetchPeers(
                db, whereClause: "p.state = 'active' AND (p.name = ? OR p.public_key = ?)", arguments: [nameOrKey, nameOrKey]
            )
            guard let peer = matches.first else {
                throw RegistryError(.notFound, "no live peer is named \"\(nameOrKey)\" or has that public key; `popctl peer list` shows them")
            }
            try db.execute(
                sql: "UPDATE peers SET state = 'revoked', revoked_at = ? WHERE id = ?",
                arguments: [Date().timeIntervalSince1970, peer.id]
            )
            return Peer(
                id: peer.id, tenantID: peer.tenantID, tenantName: peer.tenantName, name: peer.name, publicKey: peer.publicKey,
                address: peer.address, presharedKey: nil, state: .revoked, createdAt: peer.createdAt
            )
        }
    }

    /// Creates an API key for a tenant and returns the token, which is never stored.
    public func createAPIKey(tenant tenantName: String, defaultTier: Tier) throws(RegistryError) -> (APIKeyRecord, APIKeyToken) {
        let token = APIKeyToken.generate()
        return try write { db in
            let tenant = try Self.requireTenant(db, name: tenantName)
            try db.execute(
                sql: "INSERT INTO api_keys (key_id, tenant_id, secret_hash, default_tier, created_at) VALUES (?, ?, ?, ?, ?)",
                arguments: [token.keyID, tenant.id, Data(token.secretHash), defaultTier.rawValue, Date().timeIntervalSince1970]
            )
            return (APIKeyRecord(keyID: token.keyID, tenantID: tenant.id, secretHash: token.secretHash, defaultTier: defaultTier), token)
        }
    }

    // MARK: Helpers

    private func read<T: Sendable>(_ body: @Sendable (Database) throws -> T) throws(RegistryError) -> T {
        do { return try pool.read(body) } catch { throw Self.wrap(error) }
    }

    private func write<T: Sendable>(_ body: @Sendable (Database) throws -> T) throws(RegistryError) -> T {
        do { return try pool.write(body) } catch { throw Self.wrap(error) }
    }

    private static func wrap(_ error: any Error) -> RegistryError {
        if let error = error as? RegistryError { return error }
        return RegistryError(.storage, "registry operation failed: \(error)")
    }

    private static func requireTenant(_ db: Database, name: String) throws -> Tenant {
        guard let row = try Row.fetchOne(db, sql: "SELECT id, name, created_at FROM tenants WHERE name = ?", arguments: [name]) else {
            throw RegistryError(.notFound, "no tenant is named \"\(name)\"; create it with `popctl tenant add \(name)`")
        }
        return tenant(row)
    }

    private static func tenant(_ row: Row) -> Tenant {
        Tenant(id: row["id"], name: row["name"], createdAt: Date(timeIntervalSince1970: row["created_at"]))
    }

    private static func fetchPeers(_ db: Database, whereClause: String, arguments: StatementArguments = []) throws -> [Peer] {
        try Row.fetchAll(
            db,
            sql: """
                SELECT p.id, p.tenant_id, t.name AS tenant_name, p.name, p.public_key, p.address, p.preshared_key,
                       p.state, p.created_at
                FROM peers p JOIN tenants t ON t.id = p.tenant_id
                WHERE \(whereClause) ORDER BY p.id
                """,
            arguments: arguments
        ).map { row in
            let psk: String? = row["preshared_key"]
            return Peer(
                id: row["id"], tenantID: row["tenant_id"], tenantName: row["tenant_name"], name: row["name"],
                publicKey: try Curve25519PublicKey(base64: row["public_key"]),
                address: IPAddress(row["address"] as String) ?? .v4(0),
                presharedKey: try psk.map { text throws(RegistryError) in try WireGuardPresharedKey(base64: text) },
                state: PeerState(rawValue: row["state"]) ?? .revoked,
                createdAt: Date(timeIntervalSince1970: row["created_at"])
            )
        }
    }
}
