import Foundation
@testable import Registry
import Sodium
import Testing

/// The change feed: a snapshot brought up to date from the rows changed since it must equal a
/// snapshot read whole, after every kind of change.
@Suite struct RegistryChangeFeedTests {
    func expectUpdateMatchesFullRead(
        _ registry: TemporaryRegistry, _ previous: RegistrySnapshot, at offset: TimeInterval
    ) throws -> RegistrySnapshot {
        let now = registry.at(offset)
        let updated = try registry.store.snapshot(updating: previous, at: now)
        let full = try registry.store.snapshot(at: now)
        #expect(updated.revision == full.revision)
        #expect(updated.peersByAddress == full.peersByAddress)
        #expect(updated.activePeers == full.activePeers)
        #expect(updated.nextExpiry == full.nextExpiry)
        #expect(Set(updated.apiKeysByID.keys) == Set(full.apiKeysByID.keys))
        return updated
    }

    @Test(arguments: RegistryEngine.all) func anUpdatedSnapshotEqualsAFullReadAfterEveryKindOfChange(engine: RegistryEngine) throws {
        let registry = try TemporaryRegistry(engine)
        let store = registry.store
        var snapshot = try store.snapshot(at: registry.at(0))
        let alice = try registry.addPeer("alice")
        try registry.addPeer("bob", expiresIn: 60)
        try registry.addPeer("carol")
        snapshot = try expectUpdateMatchesFullRead(registry, snapshot, at: 1)
        #expect(snapshot.activePeers.map(\.name) == ["alice", "bob", "carol"])

        _ = try store.revokePeer("carol", now: registry.at(2))
        _ = try store.beginRotation("alice", publicKey: TemporaryRegistry.newKey(), presharedKey: nil, grace: 3600,
                                    now: registry.at(2))
        _ = try store.createAPIKey(tenant: "acme", defaultTier: .fast)
        snapshot = try expectUpdateMatchesFullRead(registry, snapshot, at: 3)
        #expect(snapshot.activePeers.first { $0.id == alice.id }?.rotation != nil)

        // bob expires by the clock alone: no write, the revision stays, the update prunes him.
        snapshot = try expectUpdateMatchesFullRead(registry, snapshot, at: 61)
        #expect(snapshot.activePeers.map(\.name) == ["alice"])

        // A write after the expiry records it; his address is free and goes to dave.
        let dave = try registry.addPeer("dave", at: 62)
        snapshot = try expectUpdateMatchesFullRead(registry, snapshot, at: 63)
        #expect(snapshot.peersByAddress[dave.address]?.name == "dave")
    }

    @Test(arguments: RegistryEngine.all) func peersAreNeverDeleted(engine: RegistryEngine) throws {
        let registry = try TemporaryRegistry(engine)
        try registry.addPeer("alice")
        #expect(throws: RegistryError.self) {
            try registry.store.write(at: registry.at(1)) { db in try db.execute("DELETE FROM peers") }
        }
        #expect(try registry.store.peers().map(\.name) == ["alice"])
    }

    @Test(arguments: RegistryEngine.all) func onlyRowsChangedAfterARevisionCarryAHigherStamp(engine: RegistryEngine) throws {
        let registry = try TemporaryRegistry(engine)
        try registry.addPeer("alice")
        let revision = try registry.store.revision()
        try registry.addPeer("bob")
        let changed = try registry.store.read { db in
            try db.strings("SELECT name FROM peers WHERE changed_revision > ?", [revision])
        }
        #expect(changed == ["bob"])
    }
}
