import Foundation
import Sodium

/// A key rotation in progress: the peer's next key, waiting to take over its address.
///
/// While it is pending, the device holds the current key with the address and this key with no
/// allowed IPs (WireGuard routes an address to one key only). popnetd completes it when this key
/// first handshakes after `startedAt`, or at `deadline`.
public struct PendingRotation: Sendable, Equatable, Codable {
    /// The new public key.
    public let publicKey: Curve25519PublicKey
    /// The new preshared key, when preshared keys are used. Secret: never coded or logged.
    public let presharedKey: WireGuardPresharedKey?
    /// When `popctl peer rotate` issued the new key.
    public let startedAt: Date
    /// When the old key stops working even if the new one has never connected.
    public let deadline: Date

    enum CodingKeys: String, CodingKey {
        case publicKey = "public_key", startedAt = "started_at", deadline
    }

    /// Creates a pending rotation.
    public init(publicKey: Curve25519PublicKey, presharedKey: WireGuardPresharedKey?, startedAt: Date, deadline: Date) {
        self.publicKey = publicKey
        self.presharedKey = presharedKey
        self.startedAt = startedAt
        self.deadline = deadline
    }

    public init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        self.init(
            publicKey: try c.decode(Curve25519PublicKey.self, forKey: .publicKey), presharedKey: nil,
            startedAt: try c.decode(Date.self, forKey: .startedAt), deadline: try c.decode(Date.self, forKey: .deadline)
        )
    }

    public func encode(to encoder: any Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encode(publicKey, forKey: .publicKey)
        try c.encode(startedAt, forKey: .startedAt)
        try c.encode(deadline, forKey: .deadline)
    }
}
