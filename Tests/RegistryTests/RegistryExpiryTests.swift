import Addressing
import Foundation
import Registry
import Sodium
import Testing

@Suite struct RegistryExpiryTests {
    @Test(arguments: RegistryEngine.all) func anExpiredPeerLeavesSnapshotsWithoutAnyRegistryWrite(engine: RegistryEngine) throws {
        let registry = try TemporaryRegistry(engine)
        let store = registry.store
        let peer = try registry.addPeer("laptop", expiresIn: 60)
        try registry.addPeer("desktop")
        let before = try store.snapshot(at: registry.at(59))
        #expect(before.peersByAddress[peer.address]?.name == "laptop")
        #expect(before.nextExpiry == registry.at(60))
        // The clock alone makes the snapshot stale: the revision does not move.
        #expect(before.isStale(currentRevision: before.revision, now: registry.at(59)) == false)
        #expect(before.isStale(currentRevision: before.revision, now: registry.at(60)) == true)

        let after = try store.snapshot(at: registry.at(60))
        #expect(after.revision == before.revision)
        #expect(after.peersByAddress[peer.address] == nil)
        #expect(after.peersByAddress.count == 1)
        #expect(after.nextExpiry == nil)
        #expect(try store.peers(at: registry.at(60)).map(\.name) == ["desktop"])
        let listed = try store.peers(includingInactive: true, at: registry.at(60))
        #expect(listed.first { $0.name == "laptop" }?.state == .expired)
        #expect(listed.first { $0.name == "laptop" }?.expiresAt == registry.at(60))
    }

    @Test(arguments: RegistryEngine.all) func anExpiredPeerFreesItsNameKeyAndAddressLikeARevokedOne(engine: RegistryEngine) throws {
        let registry = try TemporaryRegistry(engine)
        let store = registry.store
        let key = TemporaryRegistry.newKey()
        let first = try registry.addPeer("laptop", key: key, expiresIn: 60)
        #expect { try registry.addPeer("laptop", at: 30) } throws: { ($0 as? RegistryError)?.code == .duplicate }
        let again = try registry.addPeer("laptop", key: key, at: 61)
        #expect(again.address == first.address)
        #expect(again.expiresAt == nil)
        let states = try store.peers(includingInactive: true, at: registry.at(61)).map(\.state)
        #expect(states == [.expired, .active])
    }

    @Test(arguments: RegistryEngine.all) func anExpiryThatIsNotInTheFutureIsRefusedAndChangesNothing(engine: RegistryEngine) throws {
        let registry = try TemporaryRegistry(engine)
        let store = registry.store
        let revision = try store.revision()
        #expect {
            try registry.addPeer("late", expiresIn: 10, at: 10)
        } throws: { error in
            let error = error as? RegistryError
            return error?.code == .invalidArgument && error?.message.contains("not in the future") == true
        }
        #expect(try store.revision() == revision)
    }

    @Test(arguments: RegistryEngine.all) func aPrunedSnapshotDropsExpiredPeersAndKeepsTheRest(engine: RegistryEngine) throws {
        let registry = try TemporaryRegistry(engine)
        let store = registry.store
        try registry.addPeer("soon", expiresIn: 10)
        try registry.addPeer("later", expiresIn: 100)
        try registry.addPeer("never")
        let snapshot = try store.snapshot(at: registry.at(0))
        #expect(snapshot.pruned(at: registry.at(5)).peersByAddress.count == 3)
        let pruned = snapshot.pruned(at: registry.at(10))
        #expect(Set(pruned.activePeers.map(\.name)) == ["later", "never"])
        #expect(pruned.revision == snapshot.revision)
        #expect(pruned.nextExpiry == registry.at(100))
    }

    @Test(arguments: RegistryEngine.all) func followersSleepNoLongerThanTheNextExpiry(engine: RegistryEngine) throws {
        let registry = try TemporaryRegistry(engine)
        let store = registry.store
        try registry.addPeer("soon", expiresIn: 1.5)
        let snapshot = try store.snapshot(at: registry.at(0))
        #expect(snapshot.timeUntilNextExpiry(from: registry.at(0)) == .milliseconds(1500))
        #expect(snapshot.timeUntilNextExpiry(from: registry.at(3)) == .zero)
        #expect(RegistrySnapshot.empty.timeUntilNextExpiry(from: registry.at(0)) == nil)
    }

    @Test(arguments: RegistryEngine.all) func jsonListingsCarryExpiryAndRotationButNoSecret(engine: RegistryEngine) throws {
        let registry = try TemporaryRegistry(engine)
        let store = registry.store
        let peer = try registry.addPeer("laptop", expiresIn: 3600)
        let encoder = JSONEncoder()
        encoder.dateEncodingStrategy = .iso8601
        let text = String(decoding: try encoder.encode(peer), as: UTF8.self)
        #expect(text.contains("\"expires_at\":\"2030-03-17T18:46:40Z\""))
        #expect(text.contains("\"rotation\":null"))
        #expect(!text.contains(try #require(peer.presharedKey).base64Secret()))
    }
}
