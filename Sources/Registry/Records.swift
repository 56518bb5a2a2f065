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
}

/// Whether a peer may use the tunnel.
public enum PeerState: String, Sendable, Codable {
    case active, revoked
}

/// A WireGuard client device of a tenant.
public struct Peer: Sendable, Equatable, Codable {
    /// The registry's row id.
    public let id: Int64
    /// The owning tenant's id.
    public let tenantID: Int64
    /// The owning tenant's name.
    public let tenantName: String
    /// A unique label (e.g. the laptop's name).
    public let name: String
    /// Its WireGuard identity.
    public let publicKey: Curve25519PublicKey
    /// Its tunnel address; cryptokey routing ties packets from it to `publicKey`.
    public let address: IPAddress
    /// The preshared key, when one is used. Secret: never logged, never printed except in the
    /// client config the moment the peer is created.
    public let presharedKey: WireGuardPresharedKey?
    /// Active or revoked.
    public let state: PeerState
    /// When it was created.
    public let createdAt: Date

    enum CodingKeys: String, CodingKey {
        case id, tenantID = "tenant_id", tenantName = "tenant", name, publicKey = "public_key", address, state
        case createdAt = "created_at"
    }

    /// Creates a peer value.
    public init(
        id: Int64, tenantID: Int64, tenantName: String, name: String, publicKey: Curve25519PublicKey,
        address: IPAddress, presharedKey: WireGuardPresharedKey?, state: PeerState, createdAt: Date
    ) {
        self.id = id
        self.tenantID = tenantID
        self.tenantName = tenantName
        self.name = name
        self.publicKey = publicKey
        self.address = address
        self.presharedKey = presharedKey
        self.state = state
        self.createdAt = createdAt
    }

    // The preshared key is deliberately not encoded: listings must not carry secrets.
    public init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        self.init(
            id: try c.decode(Int64.self, forKey: .id), tenantID: try c.decode(Int64.self, forKey: .tenantID),
            tenantName: try c.decode(String.self, forKey: .tenantName), name: try c.decode(String.self, forKey: .name),
            publicKey: try c.decode(Curve25519PublicKey.self, forKey: .publicKey),
            address: try c.decode(IPAddress.self, forKey: .address), presharedKey: nil,
            state: try c.decode(PeerState.self, forKey: .state), createdAt: try c.decode(Date.self, forKey: .createdAt)
        )
    }

    public func encode(to encoder: any Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encode(id, forKey: .id)
        try c.encode(tenantID, forKey: .tenantID)
        try c.encode(tenantName, forKey: .tenantName)
        try c.encode(name, forKey: .name)
        try c.encode(publicKey, forKey: .publicKey)
        try c.encode(address, forKey: .address)
        try c.encode(state, forKey: .state)
        try c.encode(createdAt, forKey: .createdAt)
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

    /// Creates a record.
    public init(keyID: String, tenantID: Int64, secretHash: [UInt8], defaultTier: Tier) {
        self.keyID = keyID
        self.tenantID = tenantID
        self.secretHash = secretHash
        self.defaultTier = defaultTier
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
