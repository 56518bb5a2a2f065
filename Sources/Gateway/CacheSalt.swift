import Registry
import Sodium

/// The `cache_salt` of each tenant: vLLM shares cached prefixes only between requests with the
/// same salt, so a per-tenant salt keeps one tenant from learning, by timing, what another sent.
/// A keyed hash of the tenant id: stable across restarts and PoPs that share the key, and not
/// guessable by anyone without it.
public struct CacheSalt: Sendable {
    private let key: SecretBytes

    public init(key: SecretBytes) {
        self.key = key
    }

    /// The salt for `tenantID`, as hex.
    public func salt(tenantID: Int64) -> String {
        Hex.encode(HMACSHA256.authenticate(Array("popgate cache_salt v1 tenant \(tenantID)".utf8), key: key))
    }
}
