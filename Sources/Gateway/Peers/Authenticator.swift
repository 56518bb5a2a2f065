import Addressing
import Registry

/// Who is asking: the WireGuard peer the packet came through, and the API key it presented.
public struct RequestIdentity: Sendable, Equatable {
    /// The peer, identified by its tunnel source address.
    public let peer: Peer
    /// The API key's id (never its secret).
    public let keyID: String
    /// The key's default tier.
    public let defaultTier: Tier
    /// The key's own limits, below its tier's.
    public var limits: APIKeyLimits = .none
    /// The registry's hash of the secret that was presented: admission checks that the key id still
    /// stands for this secret, so a request authenticated just before its key changed is refused.
    let keySecretHash: [UInt8]
}

/// The outcome of authenticating one request.
public enum AuthenticationResult: Sendable, Equatable {
    /// Both the peer and the key are good and belong to the same tenant.
    case authenticated(RequestIdentity)
    /// The source address is not a live peer: the connection gets nothing at all.
    case unknownPeer
    /// The peer is fine but the key is missing, malformed, unknown, revoked or another tenant's.
    case invalidKey(String)
}

/// Binds a request to a tenant: WireGuard's cryptokey routing vouches for the source address,
/// the API key must belong to the same tenant as that address's peer.
public enum Authenticator {
    /// Authenticates from a registry snapshot; pure, so it is tested without a network.
    public static func authenticate(
        source: IPAddress, authorization: String?, snapshot: RegistrySnapshot
    ) -> AuthenticationResult {
        guard let peer = snapshot.peersByAddress[source] else { return .unknownPeer }
        guard let authorization else {
            return .invalidKey("You didn't provide an API key. Send it as 'Authorization: Bearer YOUR_KEY'.")
        }
        let parts = authorization.split(separator: " ", maxSplits: 1)
        guard parts.count == 2, parts[0].lowercased() == "bearer" else {
            return .invalidKey("The Authorization header must be 'Bearer YOUR_KEY'.")
        }
        // One message for every kind of bad key, so a caller cannot probe which key ids exist.
        let rejected = AuthenticationResult.invalidKey("Incorrect API key provided.")
        guard let token = APIKeyToken(presented: parts[1]), let record = snapshot.apiKeysByID[token.keyID],
              token.matches(record), record.tenantID == peer.tenantID
        else { return rejected }
        return .authenticated(RequestIdentity(
            peer: peer, keyID: record.keyID, defaultTier: record.defaultTier, limits: record.limits,
            keySecretHash: record.secretHash
        ))
    }
}
