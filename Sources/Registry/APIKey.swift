import Foundation

/// Whether an API key is accepted.
public enum APIKeyState: String, Sendable, Codable {
    case active, revoked
}

/// An API key as listings show it: who it belongs to and its state, never its secret or the
/// secret's hash (the hash of a 256-bit secret is harmless alone, but listings get pasted).
public struct APIKey: Sendable, Equatable, Codable {
    /// The public identifier embedded in the key (`popk_<id>_…`).
    public let keyID: String
    /// The owning tenant's id.
    public let tenantID: Int64
    /// The owning tenant's name.
    public let tenantName: String
    /// The tier used when a request names none.
    public let defaultTier: Tier
    /// When it was created.
    public let createdAt: Date
    /// When it was revoked, or nil while it is active.
    public let revokedAt: Date?
    /// Its own allowance, below its tier's.
    public let limits: APIKeyLimits

    /// Active until revoked.
    public var state: APIKeyState { revokedAt == nil ? .active : .revoked }

    enum CodingKeys: String, CodingKey {
        case keyID = "key_id", tenantID = "tenant_id", tenantName = "tenant", defaultTier = "default_tier"
        case createdAt = "created_at", revokedAt = "revoked_at", state
        case requestsPerMinute = "requests_per_minute", tokensPerMinute = "tokens_per_minute"
    }

    /// Creates a key value.
    public init(
        keyID: String, tenantID: Int64, tenantName: String, defaultTier: Tier, createdAt: Date, revokedAt: Date?,
        limits: APIKeyLimits = .none
    ) {
        self.keyID = keyID
        self.tenantID = tenantID
        self.tenantName = tenantName
        self.defaultTier = defaultTier
        self.createdAt = createdAt
        self.revokedAt = revokedAt
        self.limits = limits
    }

    public init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        self.init(
            keyID: try c.decode(String.self, forKey: .keyID), tenantID: try c.decode(Int64.self, forKey: .tenantID),
            tenantName: try c.decode(String.self, forKey: .tenantName),
            defaultTier: try c.decode(Tier.self, forKey: .defaultTier),
            createdAt: try c.decode(Date.self, forKey: .createdAt),
            revokedAt: try c.decodeIfPresent(Date.self, forKey: .revokedAt),
            limits: APIKeyLimits(
                requestsPerMinute: try c.decodeIfPresent(Int.self, forKey: .requestsPerMinute),
                tokensPerMinute: try c.decodeIfPresent(Int.self, forKey: .tokensPerMinute)
            )
        )
    }

    public func encode(to encoder: any Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encode(keyID, forKey: .keyID)
        try c.encode(tenantID, forKey: .tenantID)
        try c.encode(tenantName, forKey: .tenantName)
        try c.encode(defaultTier, forKey: .defaultTier)
        try c.encode(createdAt, forKey: .createdAt)
        // Explicit null: a script can tell "active" from "field missing".
        try c.encode(revokedAt, forKey: .revokedAt)
        try c.encode(state, forKey: .state)
        // Null: the tier's limit applies.
        try c.encode(limits.requestsPerMinute, forKey: .requestsPerMinute)
        try c.encode(limits.tokensPerMinute, forKey: .tokensPerMinute)
    }
}
