import Foundation

extension RegistryStore {
    /// Every API key, active and revoked, oldest first; with `tenant`, only that tenant's (removed
    /// tenants included: their revoked keys stay listed).
    public func apiKeys(tenant tenantName: String? = nil) throws(RegistryError) -> [APIKey] {
        try read { db in
            guard let tenantName else { return try Self.fetchKeys(db, whereClause: "TRUE") }
            guard let tenant = try Self.findTenant(db, name: tenantName) else {
                throw RegistryError(
                    .notFound, "no tenant is named \"\(tenantName)\"; `popctl tenant list` shows all tenants"
                )
            }
            return try Self.fetchKeys(db, whereClause: "k.tenant_id = ?", arguments: [tenant.id])
        }
    }

    /// Creates an API key for a tenant and returns the token, which is never stored.
    public func createAPIKey(
        tenant tenantName: String, defaultTier: Tier, limits: APIKeyLimits = .none
    ) throws(RegistryError) -> (APIKeyRecord, APIKeyToken) {
        try limits.validate()
        let token = APIKeyToken.generate()
        let now = Date()
        return try write(at: now) { db in
            let tenant = try Self.requireTenant(db, name: tenantName)
            try db.execute(
                """
                INSERT INTO api_keys (key_id, tenant_id, secret_hash, default_tier, created_at, requests_per_minute,
                                      tokens_per_minute)
                VALUES (?, ?, ?, ?, ?, ?, ?)
                """,
                [
                    token.keyID, tenant.id, Data(token.secretHash), defaultTier.rawValue, now.timeIntervalSince1970,
                    limits.requestsPerMinute, limits.tokensPerMinute,
                ]
            )
            let record = APIKeyRecord(
                keyID: token.keyID, tenantID: tenant.id, secretHash: token.secretHash, defaultTier: defaultTier,
                limits: limits
            )
            return (record, token)
        }
    }

    /// Revokes the active API key with this id: it leaves the snapshot, so the gateway refuses it
    /// as soon as it follows the revision. Revoking a revoked key is refused, not a silent no-op:
    /// the key the operator meant may be another one that is still active.
    @discardableResult
    public func revokeAPIKey(_ keyID: String, now: Date = Date()) throws(RegistryError) -> APIKey {
        if let token = APIKeyToken(presented: Substring(keyID)) {
            throw RegistryError(
                .invalidArgument,
                "that is a whole API key, not its id; revoke it with `popctl key revoke \(token.keyID)` "
                    + "(and keep whole keys off command lines: they stay in shell history)"
            )
        }
        let id = keyID.lowercased()
        return try write(at: now) { db in
            guard let key = try Self.fetchKeys(db, whereClause: "k.key_id = ?", arguments: [id]).first else {
                throw RegistryError(
                    .notFound, "no API key has the id \"\(keyID)\"; `popctl key list` shows every key's id"
                )
            }
            if let revokedAt = key.revokedAt {
                throw RegistryError(
                    .notFound,
                    "API key \(key.keyID) of tenant \(key.tenantName) was already revoked at "
                        + "\(Self.timestamp(revokedAt)); nothing changed"
                )
            }
            try db.execute("UPDATE api_keys SET revoked_at = ? WHERE key_id = ?", [now.timeIntervalSince1970, id])
            return APIKey(
                keyID: key.keyID, tenantID: key.tenantID, tenantName: key.tenantName, defaultTier: key.defaultTier,
                createdAt: key.createdAt, revokedAt: now, limits: key.limits
            )
        }
    }

    private static func fetchKeys(
        _ db: any RegistryTransaction, whereClause: String, arguments: [any SQLBindable] = []
    ) throws -> [APIKey] {
        try db.rows(
            """
            SELECT k.key_id, k.tenant_id, t.name AS tenant_name, k.default_tier, k.created_at, k.revoked_at,
                   k.requests_per_minute, k.tokens_per_minute
            FROM api_keys k JOIN tenants t ON t.id = k.tenant_id
            WHERE \(whereClause) ORDER BY k.id
            """,
            arguments
        ).map { row in
            APIKey(
                keyID: try row.string("key_id"), tenantID: try row.int64("tenant_id"),
                tenantName: try row.string("tenant_name"),
                defaultTier: Tier(rawValue: try row.string("default_tier")) ?? .medium,
                createdAt: Date(timeIntervalSince1970: try row.double("created_at")),
                revokedAt: try row.optionalDouble("revoked_at").map(Date.init(timeIntervalSince1970:)),
                limits: try APIKeyLimits(row)
            )
        }
    }
}

extension APIKeyLimits {
    /// The limits in a row that selected `requests_per_minute` and `tokens_per_minute`.
    init(_ row: SQLRow) throws {
        self.init(
            requestsPerMinute: try row.optionalInt("requests_per_minute"),
            tokensPerMinute: try row.optionalInt("tokens_per_minute")
        )
    }
}
