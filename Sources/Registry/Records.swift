import Addressing
import Foundation
import Sodium

/// A customer organisation; peers and API keys belong to exactly one tenant.
public struct Tenant: Sendable, Equatable, Codable {
    /// The registry's row id.
    public let id: Int64
    /// A unique, lower-case name.
    public let name: String
    /// When it was created.
    public let createdAt: Date
    /// When it was removed (`popctl tenant remove`), or nil while it is in use. A removed tenant keeps
    /// its row and name: its revoked peers and keys still refer to it.
    public let removedAt: Date?

    enum CodingKeys: String, CodingKey {
        case id, name, createdAt = "created_at", removedAt = "removed_at"
    }

    /// Creates a tenant value.
    public init(id: Int64, name: String, createdAt: Date, removedAt: Date? = nil) {
        self.id = id
        self.name = name
        self.createdAt = createdAt
        self.removedAt = removedAt
    }

    public func encode(to encoder: any Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encode(id, forKey: .id)
        try c.encode(name, forKey: .name)
        try c.encode(createdAt, forKey: .createdAt)
        // Explicit null, as in the peer and key listings: "in use" is not "field missing".
        try c.encode(removedAt, forKey: .removedAt)
    }
}

/// An API key's stored form: an identifier and the SHA-256 of its secret, never the secret.
public struct APIKeyRecord: Sendable, Equatable {
    /// The public identifier embedded in the key (`popk_<id>_…`).
    public let keyID: String
    /// The owning tenant.
    public let tenantID: Int64
    /// SHA-256 of the secret part.
    public let secretHash: [UInt8]
    /// The tier used when a request names none.
    public let defaultTier: Tier
    /// Its own allowance, below its tier's.
    public let limits: APIKeyLimits

    /// Creates a record.
    public init(keyID: String, tenantID: Int64, secretHash: [UInt8], defaultTier: Tier, limits: APIKeyLimits = .none) {
        self.keyID = keyID
        self.tenantID = tenantID
        self.secretHash = secretHash
        self.defaultTier = defaultTier
        self.limits = limits
    }
}

/// A WireGuard preshared key (32 random bytes, base64 as `wg genpsk` prints).
public struct WireGuardPresharedKey: Sendable, Equatable, CustomStringConvertible {
    /// The key bytes.
    public let secret: SecretBytes

    /// A fresh random key.
    public init() { secret = SecretBytes(randomCount: 32) }

    /// Parses the base64 form.
    public init(base64 text: String) throws(RegistryError) {
        guard let data = Data(base64Encoded: text), data.count == 32 else {
            throw RegistryError(.invalidArgument, "a preshared key must be 32 bytes in base64, as `wg genpsk` prints")
        }
        secret = SecretBytes(copying: [UInt8](data))
    }

    /// The base64 form, for the device and the client config only.
    public func base64Secret() -> String { secret.withUnsafeBytes { Data($0).base64EncodedString() } }

    public static func == (lhs: Self, rhs: Self) -> Bool { lhs.secret.constantTimeEquals(rhs.secret) }

    public var description: String { "WireGuardPresharedKey(redacted)" }
}
