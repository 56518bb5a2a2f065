import Foundation
import Registry
import Testing

/// Removing a tenant: refused while it has live peers or active keys; with force, all revoked in one change.
@Suite struct RegistryTenantRemovalTests {
    @Test(arguments: RegistryEngine.all) func aTenantInUseIsRefusedAndNothingChanges(engine: RegistryEngine) throws {
        let registry = try TemporaryRegistry(engine)
        let store = registry.store
        try registry.addPeer("laptop")
        try registry.addPeer("phone")
        _ = try store.createAPIKey(tenant: "acme", defaultTier: .medium)
        let revision = try store.revision()
        #expect(throws: RegistryError(
            .invalidArgument,
            "tenant \"acme\" still has 2 active peers and 1 active API key; revoke them first (`popctl peer list`, "
                + "`popctl key list --tenant acme`) or run `popctl tenant remove acme --force` to revoke them all "
                + "and remove the tenant"
        )) { try store.removeTenant("acme", force: false, now: registry.at(1)) }
        #expect(try store.revision() == revision)
        #expect(try store.tenants().map(\.name) == ["acme"])
        #expect(try store.snapshot(at: registry.at(1)).activePeers.count == 2)
        #expect(try store.snapshot(at: registry.at(1)).apiKeysByID.count == 1)
    }

    @Test(arguments: RegistryEngine.all) func forceRevokesEveryPeerAndKeyInOneChange(engine: RegistryEngine) throws {
        let registry = try TemporaryRegistry(engine)
        let store = registry.store
        try store.addTenant(name: "globex")
        let laptop = try registry.addPeer("laptop")
        let other = try store.addPeer(
            tenant: "globex", name: "other", publicKey: TemporaryRegistry.newKey(), presharedKey: nil,
            pool: registry.pool, reserved: [registry.popAddress], now: registry.at(0)
        )
        let (key, _) = try store.createAPIKey(tenant: "acme", defaultTier: .medium)
        let (otherKey, _) = try store.createAPIKey(tenant: "globex", defaultTier: .medium)
        let before = try store.snapshot(at: registry.at(1))

        let removal = try store.removeTenant("acme", force: true, now: registry.at(2))
        #expect(removal.revokedPeers == ["laptop"])
        #expect(removal.revokedKeys == [key.keyID])
        #expect(removal.tenant.removedAt == registry.at(2))

        let full = try store.snapshot(at: registry.at(3))
        let updated = try store.snapshot(updating: before, at: registry.at(3))
        for snapshot in [full, updated] {
            #expect(snapshot.revision > before.revision)
            #expect(snapshot.activePeers.map(\.id) == [other.id])
            #expect(snapshot.peersByAddress[laptop.address] == nil)
            #expect(Set(snapshot.apiKeysByID.keys) == [otherKey.keyID])
        }
        #expect(try store.tenants().map(\.name) == ["globex"])
        #expect(try store.tenants(includingRemoved: true).map(\.name) == ["acme", "globex"])
        let laptopNow = try store.peers(includingInactive: true, at: registry.at(3)).first { $0.name == "laptop" }
        #expect(laptopNow?.state == .revoked)
        #expect(try store.apiKeys(tenant: "acme").map(\.state) == [.revoked])
    }

    @Test(arguments: RegistryEngine.all)
    func aRemovedTenantTakesNoNewPeersKeysOrNameAndIsNotRemovedTwice(engine: RegistryEngine) throws {
        let registry = try TemporaryRegistry(engine)
        let store = registry.store
        try store.removeTenant("acme", force: false, now: registry.at(0))
        let revision = try store.revision()
        #expect { try registry.addPeer("late", at: 1) } throws: {
            ($0 as? RegistryError)?.code == .notFound && "\($0)".contains("was removed at")
        }
        #expect { try store.createAPIKey(tenant: "acme", defaultTier: .fast) } throws: {
            ($0 as? RegistryError)?.code == .notFound
        }
        #expect { try store.addTenant(name: "acme") } throws: {
            ($0 as? RegistryError)?.code == .duplicate && "\($0)".contains("choose another name")
        }
        #expect(throws: RegistryError(
            .notFound, "tenant \"acme\" was already removed at 2030-03-17T17:46:40Z; nothing changed"
        )) { try store.removeTenant("acme", force: true, now: registry.at(1)) }
        #expect(throws: RegistryError(
            .notFound, "no tenant is named \"nobody\"; `popctl tenant list` shows all tenants"
        )) {
            try store.removeTenant("nobody", force: true)
        }
        #expect(try store.revision() == revision)
    }

    @Test(arguments: RegistryEngine.all) func expiredPeersDoNotHoldATenantBack(engine: RegistryEngine) throws {
        let registry = try TemporaryRegistry(engine)
        let store = registry.store
        try registry.addPeer("temp", expiresIn: 10)
        let removal = try store.removeTenant("acme", force: false, now: registry.at(20))
        #expect(removal.revokedPeers.isEmpty)
        #expect(try store.peers(includingInactive: true, at: registry.at(20)).first?.state == .expired)
    }
}
