import Foundation
import Registry
import Testing

/// Listing and revoking API keys.
@Suite struct RegistryAPIKeyTests {
    @Test(arguments: RegistryEngine.all) func keysAreListedWithTheirTenantTierAndState(engine: RegistryEngine) throws {
        let registry = try TemporaryRegistry(engine)
        let store = registry.store
        try registry.store.addTenant(name: "globex")
        let (first, _) = try store.createAPIKey(tenant: "acme", defaultTier: .fast)
        let (second, _) = try store.createAPIKey(tenant: "globex", defaultTier: .slow)
        let all = try store.apiKeys()
        #expect(all.map(\.keyID) == [first.keyID, second.keyID])
        #expect(all.map(\.tenantName) == ["acme", "globex"])
        #expect(all.map(\.defaultTier) == [.fast, .slow])
        #expect(all.allSatisfy { $0.state == .active && $0.revokedAt == nil })
        #expect(try store.apiKeys(tenant: "globex").map(\.keyID) == [second.keyID])
        #expect { try store.apiKeys(tenant: "nobody") } throws: { ($0 as? RegistryError)?.code == .notFound }
    }

    @Test(arguments: RegistryEngine.all) func aRevokedKeyLeavesTheSnapshotAndStaysListed(engine: RegistryEngine) throws {
        let registry = try TemporaryRegistry(engine)
        let store = registry.store
        try registry.store.addTenant(name: "globex")
        let (record, _) = try store.createAPIKey(tenant: "acme", defaultTier: .medium)
        let (kept, _) = try store.createAPIKey(tenant: "acme", defaultTier: .medium)
        let before = try store.snapshot()
        #expect(before.apiKeysByID[record.keyID] != nil)

        let revoked = try store.revokeAPIKey(record.keyID, now: registry.at(60))
        #expect(revoked.state == .revoked && revoked.revokedAt == registry.at(60))
        let after = try store.snapshot()
        #expect(after.revision > before.revision)
        #expect(after.apiKeysByID[record.keyID] == nil)
        #expect(after.apiKeysByID[kept.keyID] != nil)
        // A follower that updates its snapshot from the change feed drops it too.
        #expect(try store.snapshot(updating: before).apiKeysByID[record.keyID] == nil)
        #expect(try store.apiKeys().first { $0.keyID == record.keyID }?.state == .revoked)
    }

    @Test(arguments: RegistryEngine.all) func unknownAndRevokedKeysAreRefusedWithoutAChange(engine: RegistryEngine) throws {
        let registry = try TemporaryRegistry(engine)
        let store = registry.store
        try registry.store.addTenant(name: "globex")
        let (record, token) = try store.createAPIKey(tenant: "acme", defaultTier: .medium)
        let revision = try store.revision()
        #expect(throws: RegistryError(
            .notFound, "no API key has the id \"0123456789abcdef\"; `popctl key list` shows every key's id"
        )) { try store.revokeAPIKey("0123456789abcdef") }
        #expect { try store.revokeAPIKey(token.reveal()) } throws: { error in
            let message = "\(error)"
            return message.contains("popctl key revoke \(record.keyID)") && !message.contains(token.reveal())
        }
        #expect(try store.revision() == revision)

        try store.revokeAPIKey(record.keyID.uppercased(), now: registry.at(0))
        let revoked = try store.revision()
        #expect(throws: RegistryError(
            .notFound,
            "API key \(record.keyID) of tenant acme was already revoked at 2030-03-17T17:46:40Z; nothing changed"
        )) { try store.revokeAPIKey(record.keyID, now: registry.at(10)) }
        #expect(try store.revision() == revoked)
        #expect(try store.apiKeys().first?.revokedAt == registry.at(0))
    }

    @Test(arguments: RegistryEngine.all) func aKeysOwnLimitsAreStoredAndFollowed(engine: RegistryEngine) throws {
        let registry = try TemporaryRegistry(engine)
        let store = registry.store
        let limits = APIKeyLimits(requestsPerMinute: 5, tokensPerMinute: nil)
        let (record, _) = try store.createAPIKey(tenant: "acme", defaultTier: .slow, limits: limits)
        #expect(record.limits == limits)
        #expect(try store.snapshot().apiKeysByID[record.keyID]?.limits == limits)
        #expect(try store.apiKeys().first?.limits == limits)
        let (plain, _) = try store.createAPIKey(tenant: "acme", defaultTier: .slow)
        #expect(try store.snapshot().apiKeysByID[plain.keyID]?.limits == APIKeyLimits.none)
        #expect {
            try store.createAPIKey(tenant: "acme", defaultTier: .slow, limits: APIKeyLimits(tokensPerMinute: -1))
        } throws: { ($0 as? RegistryError)?.code == .invalidArgument }
    }
}
