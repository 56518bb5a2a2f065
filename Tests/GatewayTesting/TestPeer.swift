import Registry
import Sodium

/// A WireGuard peer of the test gateway's registry, with the API key it sends.
///
/// On a live gateway (``withLiveGateway(_:workers:limit:logger:_:)``) its tunnel address is a loopback
/// address: all of 127/8 is loopback on Linux, so a client socket bound to 127.0.0.2 before it connects
/// *is* the peer at 127.0.0.2, by its source address, as WireGuard's cryptokey routing makes a tunnel's
/// inner source address its peer's.
package struct TestPeer: Sendable, Equatable {
    /// The tunnel address, which is also the source address its connections come from.
    package var address: String
    /// The tenant's name; peers that name the same tenant belong to one tenant.
    package var tenant: String
    /// The bearer token it sends (`popk_…`), a live key of its tenant.
    package var apiKey: String
    /// The tier of a request that names none.
    package var defaultTier: Tier
    /// The key's own allowance, below its tier's.
    package var keyLimits: APIKeyLimits

    /// A peer whose key, unless given, is made from its address: distinct peers get distinct keys,
    /// the same peer the same key in every run.
    package init(
        address: String, tenant: String = "acme", apiKey: String? = nil, defaultTier: Tier = .fast,
        keyLimits: APIKeyLimits = .none
    ) {
        self.address = address
        self.tenant = tenant
        self.apiKey = apiKey ?? Self.apiKey(for: address)
        self.defaultTier = defaultTier
        self.keyLimits = keyLimits
    }

    /// `popk_`, 16 hex digits of id and 64 of secret, all derived from `address`.
    private static func apiKey(for address: String) -> String {
        let id = SHA256.hash(Array("key id of \(address)".utf8)).prefix(8)
        let secret = SHA256.hash(Array("key secret of \(address)".utf8))
        return "popk_\(Hex.encode(id))_\(Hex.encode(secret))"
    }

    /// The registry's record of its key, which belongs to tenant `tenantID`.
    func keyRecord(tenantID: Int64) -> APIKeyRecord {
        guard let token = APIKeyToken(presented: apiKey[...]) else {
            preconditionFailure("\(apiKey) is not an API key (popk_, 16 hex digits, _, 64 hex digits)")
        }
        return APIKeyRecord(
            keyID: token.keyID, tenantID: tenantID, secretHash: token.secretHash, defaultTier: defaultTier,
            limits: keyLimits
        )
    }

    /// The id of its key, as receipts, logs and revocations name it.
    package var keyID: String {
        APIKeyToken(presented: apiKey[...])?.keyID ?? ""
    }
}
