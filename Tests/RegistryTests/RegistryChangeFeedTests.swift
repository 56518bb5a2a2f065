import Foundation
import GRDB
@testable import Registry
import Sodium
import Testing

/// The change feed: a snapshot brought up to date from the rows changed since it must equal a
/// snapshot read whole, after every kind of change.
@Suite struct RegistryChangeFeedTests {
    let registry: TemporaryRegistry

    init() throws { registry = try TemporaryRegistry() }

    func expectUpdateMatchesFullRead(_ previous: RegistrySnapshot, at offset: TimeInterval) throws -> RegistrySnapshot {
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

    @Test func anUpdatedSnapshotEqualsAFullReadAfterEveryKindOfChange() throws {
        let store = registry.store
        var snapshot = try store.snapshot(at: registry.at(0))
        let alice = try registry.addPeer("alice")
        try registry.addPeer("bob", expiresIn: 60)
        try registry.addPeer("carol")
        snapshot = try expectUpdateMatchesFullRead(snapshot, at: 1)
        #expect(snapshot.activePeers.map(\.name) == ["alice", "bob", "carol"])

        _ = try store.revokePeer("carol", now: registry.at(2))
        _ = try store.beginRotation("alice", publicKey: TemporaryRegistry.newKey(), presharedKey: nil, grace: 3600,
                                    now: registry.at(2))
        _ = try store.createAPIKey(tenant: "acme", defaultTier: .fast)
        snapshot = try expectUpdateMatchesFullRead(snapshot, at: 3)
        #expect(snapshot.activePeers.first { $0.id == alice.id }?.rotation != nil)

        // bob expires by the clock alone: no write, the revision stays, the update prunes him.
        snapshot = try expectUpdateMatchesFullRead(snapshot, at: 61)
        #expect(snapshot.activePeers.map(\.name) == ["alice"])

        // A write after the expiry records it; his address is free and goes to dave.
        let dave = try registry.addPeer("dave", at: 62)
        snapshot = try expectUpdateMatchesFullRead(snapshot, at: 63)
        #expect(snapshot.peersByAddress[dave.address]?.name == "dave")
    }

    @Test func peersAreNeverDeleted() throws {
        try registry.addPeer("alice")
        let queue = try DatabaseQueue(path: registry.store.path)
        #expect(throws: (any Error).self) { try queue.write { try $0.execute(sql: "DELETE FROM peers") } }
        #expect(try registry.store.peers().map(\.name) == ["alice"])
    }

    @Test func onlyRowsChangedAfterARevisionCarryAHigherStamp() throws {
        try registry.addPeer("alice")
        let revision = try registry.store.revision()
        try registry.addPeer("bob")
        let queue = try DatabaseQueue(path: registry.store.path)
        let changed = try queue.read { db in
            try String.fetchAll(db, sql: "SELECT name FROM peers WHERE changed_revision > ?", arguments: [revision])
        }
        #expect(changed == ["bob"])
    }
}
