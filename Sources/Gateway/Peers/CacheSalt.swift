import NIOConcurrencyHelpers
import Registry
import Sodium

/// The `cache_salt` of each tenant: vLLM shares cached prefixes only between requests with the
/// same salt, so a per-tenant salt keeps one tenant from learning, by timing, what another sent.
/// A keyed hash of the tenant id: stable across restarts and PoPs that share the key, and not
/// guessable by anyone without it.
public final class CacheSalt: Sendable {
    private let key: SecretBytes
    /// Salts already computed: every request to a vLLM worker needs its tenant's, and the HMAC
    /// and its hex cost more than a lookup. Tenants are few; the table is emptied if they are not.
    private let known = NIOLockedValueBox<[Int64: String]>([:])
    private static let maximumKnown = 4096

    public init(key: SecretBytes) {
        self.key = key
    }

    /// The salt for `tenantID`, as hex.
    public func salt(tenantID: Int64) -> String {
        if let salt = known.withLockedValue({ $0[tenantID] }) { return salt }
        let salt = Hex.encode(HMACSHA256.authenticate(Array("popgate cache_salt v1 tenant \(tenantID)".utf8), key: key))
        known.withLockedValue { table in
            if table.count >= Self.maximumKnown { table.removeAll(keepingCapacity: true) }
            table[tenantID] = salt
        }
        return salt
    }
}
