import Addressing
import Foundation
import Sodium

/// Whether a peer may use the tunnel.
///
/// `expired` is what an active peer becomes once its expiry has passed; readers decide that from the
/// clock, so the stored state may still say `active` until the next registry write records it.
public enum PeerState: String, Sendable, Codable {
    case active, revoked, expired
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
    /// Its WireGuard identity; cryptokey routing ties `address` to it.
    public let publicKey: Curve25519PublicKey
    /// Its tunnel address.
    public let address: IPAddress
    /// The preshared key, when one is used. Secret: never logged, never printed except in the
    /// client config the moment the peer is created or rotated.
    public let presharedKey: WireGuardPresharedKey?
    /// Active, revoked or expired, as of when it was read.
    public let state: PeerState
    /// When it was created.
    public let createdAt: Date
    /// When it stops being live, or nil for never.
    public let expiresAt: Date?
    /// A key rotation in progress, or nil.
    public let rotation: PendingRotation?

    enum CodingKeys: String, CodingKey {
        case id, tenantID = "tenant_id", tenantName = "tenant", name, publicKey = "public_key", address, state
        case createdAt = "created_at", expiresAt = "expires_at", rotation
    }

    /// Creates a peer value.
    public init(
        id: Int64, tenantID: Int64, tenantName: String, name: String, publicKey: Curve25519PublicKey,
        address: IPAddress, presharedKey: WireGuardPresharedKey?, state: PeerState, createdAt: Date,
        expiresAt: Date? = nil, rotation: PendingRotation? = nil
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
        self.expiresAt = expiresAt
        self.rotation = rotation
    }

    /// True when the peer may use the tunnel at `now`: active and not yet expired.
    public func isLive(at now: Date) -> Bool {
        state == .active && !(expiresAt.map { $0 <= now } ?? false)
    }

    /// The peer as it is once its pending rotation has completed: the new key (and preshared key)
    /// holds the same address. Without a pending rotation, the peer itself.
    public func completingRotation() -> Peer {
        guard let rotation else { return self }
        return Peer(
            id: id, tenantID: tenantID, tenantName: tenantName, name: name, publicKey: rotation.publicKey,
            address: address, presharedKey: rotation.presharedKey, state: state, createdAt: createdAt,
            expiresAt: expiresAt
        )
    }

    // Preshared keys are deliberately not coded: listings must not carry secrets.
    public init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        self.init(
            id: try c.decode(Int64.self, forKey: .id), tenantID: try c.decode(Int64.self, forKey: .tenantID),
            tenantName: try c.decode(String.self, forKey: .tenantName), name: try c.decode(String.self, forKey: .name),
            publicKey: try c.decode(Curve25519PublicKey.self, forKey: .publicKey),
            address: try c.decode(IPAddress.self, forKey: .address), presharedKey: nil,
            state: try c.decode(PeerState.self, forKey: .state), createdAt: try c.decode(Date.self, forKey: .createdAt),
            expiresAt: try c.decodeIfPresent(Date.self, forKey: .expiresAt),
            rotation: try c.decodeIfPresent(PendingRotation.self, forKey: .rotation)
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
        // Explicit nulls: a script can tell "never expires" from "field missing".
        try c.encode(expiresAt, forKey: .expiresAt)
        try c.encode(rotation, forKey: .rotation)
    }
}
