import Foundation

extension RegistryStore {
    /// Tenants by name; with `includingRemoved`, also the removed ones.
    public func tenants(includingRemoved: Bool = false) throws(RegistryError) -> [Tenant] {
        let filter = includingRemoved ? "" : "WHERE removed_at IS NULL"
        return try read { db in
            try db.rows("SELECT id, name, created_at, removed_at FROM tenants \(filter) ORDER BY name").map(Self.tenant)
        }
    }

    /// Adds a tenant; refused if the name is taken (also by a removed tenant) or malformed.
    @discardableResult
    public func addTenant(name: String) throws(RegistryError) -> Tenant {
        try Names.validate(name, what: "tenant")
        let now = Date()
        return try write(at: now) { db in
            if let existing = try Self.findTenant(db, name: name) {
                if let removedAt = existing.removedAt {
                    throw RegistryError(
                        .duplicate,
                        "tenant \"\(name)\" was removed at \(Self.timestamp(removedAt)) and its name stays with "
                            + "its revoked peers and keys; choose another name"
                    )
                }
                throw RegistryError(
                    .duplicate, "tenant \"\(name)\" already exists; `popctl tenant list` shows all tenants"
                )
            }
            let inserted = try db.row(
                "INSERT INTO tenants (name, created_at) VALUES (?, ?) RETURNING id", [name, now.timeIntervalSince1970]
            )
            return Tenant(id: try inserted?.int64("id") ?? 0, name: name, createdAt: now)
        }
    }

    /// Removes a tenant. Refused while it has live peers or active API keys, unless `force`: then
    /// they are revoked and the tenant marked removed in the same transaction, so both followers
    /// see all of it at one revision (popnetd drops the peers, the gateway refuses peers and keys).
    @discardableResult
    public func removeTenant(_ name: String, force: Bool, now: Date = Date()) throws(RegistryError) -> TenantRemoval {
        try write(at: now) { db in
            guard let tenant = try Self.findTenant(db, name: name) else {
                throw RegistryError(.notFound, "no tenant is named \"\(name)\"; `popctl tenant list` shows all tenants")
            }
            if let removedAt = tenant.removedAt {
                throw RegistryError(
                    .notFound, "tenant \"\(name)\" was already removed at \(Self.timestamp(removedAt)); nothing changed"
                )
            }
            // `write` has just recorded expired peers as such: 'active' here means live.
            let peers = try db.strings(
                "SELECT name FROM peers WHERE tenant_id = ? AND state = 'active' ORDER BY id", [tenant.id]
            )
            let keys = try db.strings(
                "SELECT key_id FROM api_keys WHERE tenant_id = ? AND revoked_at IS NULL ORDER BY id", [tenant.id]
            )
            if !force, !peers.isEmpty || !keys.isEmpty {
                throw RegistryError(
                    .invalidArgument,
                    "tenant \"\(name)\" still has \(Self.count(peers.count, "active peer")) and "
                        + "\(Self.count(keys.count, "active API key")); revoke them first (`popctl peer list`, "
                        + "`popctl key list --tenant \(name)`) or run `popctl tenant remove \(name) --force` "
                        + "to revoke them all and remove the tenant"
                )
            }
            let at = now.timeIntervalSince1970
            try db.execute(
                """
                UPDATE peers SET state = 'revoked', revoked_at = ?, pending_public_key = NULL,
                       pending_preshared_key = NULL, rotation_started_at = NULL, rotation_deadline = NULL
                WHERE tenant_id = ? AND state = 'active'
                """,
                [at, tenant.id]
            )
            try db.execute(
                "UPDATE api_keys SET revoked_at = ? WHERE tenant_id = ? AND revoked_at IS NULL", [at, tenant.id]
            )
            try db.execute("UPDATE tenants SET removed_at = ? WHERE id = ?", [at, tenant.id])
            return TenantRemoval(
                tenant: Tenant(id: tenant.id, name: tenant.name, createdAt: tenant.createdAt, removedAt: now),
                revokedPeers: peers, revokedKeys: keys
            )
        }
    }

    // MARK: Helpers shared by changes that name a tenant

    /// The tenant named `name` that is still in use; a removed one is refused with when it was removed.
    static func requireTenant(_ db: any RegistryTransaction, name: String) throws -> Tenant {
        guard let tenant = try findTenant(db, name: name) else {
            throw RegistryError(.notFound, "no tenant is named \"\(name)\"; create it with `popctl tenant add \(name)`")
        }
        if let removedAt = tenant.removedAt {
            throw RegistryError(
                .notFound,
                "tenant \"\(name)\" was removed at \(timestamp(removedAt)); "
                    + "`popctl tenant list` shows the tenants in use"
            )
        }
        return tenant
    }

    /// The tenant named `name`, removed or not.
    static func findTenant(_ db: any RegistryTransaction, name: String) throws -> Tenant? {
        try db.row("SELECT id, name, created_at, removed_at FROM tenants WHERE name = ?", [name]).map(tenant)
    }

    private static func tenant(_ row: SQLRow) throws -> Tenant {
        Tenant(
            id: try row.int64("id"), name: try row.string("name"),
            createdAt: Date(timeIntervalSince1970: try row.double("created_at")),
            removedAt: try row.optionalDouble("removed_at").map(Date.init(timeIntervalSince1970:))
        )
    }

    private static func count(_ number: Int, _ noun: String) -> String {
        "\(number) \(noun)\(number == 1 ? "" : "s")"
    }
}

/// What `RegistryStore.removeTenant` did: the tenant as removed, and what it revoked with it.
public struct TenantRemoval: Sendable, Equatable {
    /// The tenant, with its removal time.
    public let tenant: Tenant
    /// Names of the peers that were live and are now revoked.
    public let revokedPeers: [String]
    /// Ids of the API keys that were active and are now revoked.
    public let revokedKeys: [String]
}
