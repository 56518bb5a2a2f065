import Addressing
import Foundation
import Registry
import Sodium
import Testing

@Suite struct RegistryRotationTests {
    func rotate(
        _ registry: TemporaryRegistry, _ peer: String, to key: Curve25519PublicKey, grace: TimeInterval = 3600,
        at offset: TimeInterval = 0
    ) throws -> (peer: Peer, replaced: PendingRotation?) {
        try registry.store.beginRotation(
            peer, publicKey: key, presharedKey: WireGuardPresharedKey(), grace: grace, now: registry.at(offset)
        )
    }

    @Test(arguments: RegistryEngine.all) func aRotationKeepsNameTenantAndAddressAndWaitsForPopnetd(engine: RegistryEngine) throws {
        let registry = try TemporaryRegistry(engine)
        let store = registry.store
        let peer = try registry.addPeer("laptop")
        let newKey = TemporaryRegistry.newKey()
        let revision = try store.revision()
        let (rotating, replaced) = try rotate(registry, "laptop", to: newKey, grace: 86_400, at: 10)
        #expect(replaced == nil)
        #expect(try store.revision() > revision)
        let rotation = try #require(rotating.rotation)
        #expect(rotation.publicKey == newKey)
        #expect(rotation.startedAt == registry.at(10))
        #expect(rotation.deadline == registry.at(86_410))
        #expect(rotation.presharedKey != nil && rotation.presharedKey != peer.presharedKey)

        // The gateway's view is the same peer at the same address; the current key is unchanged.
        let live = try #require(try store.snapshot(at: registry.at(11)).peersByAddress[peer.address])
        #expect(live.id == peer.id && live.tenantName == "acme" && live.publicKey == peer.publicKey)
        #expect(live.rotation?.publicKey == newKey)
        #expect(live.presharedKey == peer.presharedKey)
        #expect(live.rotation?.presharedKey == rotation.presharedKey)
    }

    @Test(arguments: RegistryEngine.all) func aSecondRotateReplacesThePendingKey(engine: RegistryEngine) throws {
        let registry = try TemporaryRegistry(engine)
        let store = registry.store
        try registry.addPeer("laptop")
        let first = TemporaryRegistry.newKey()
        let second = TemporaryRegistry.newKey()
        try rotate(registry, "laptop", to: first, at: 10)
        let (rotating, replaced) = try rotate(registry, "laptop", to: second, at: 20)
        #expect(replaced?.publicKey == first)
        #expect(rotating.rotation?.publicKey == second)
        #expect(rotating.rotation?.startedAt == registry.at(20))
        // The replaced key is free again; the pending one is not.
        try registry.addPeer("other", key: first, at: 21)
        #expect { try registry.addPeer("third", key: second, at: 22) } throws: {
            ($0 as? RegistryError)?.code == .duplicate
        }
    }

    @Test(arguments: RegistryEngine.all) func keysInUseAreRefusedAndChangeNothing(engine: RegistryEngine) throws {
        let registry = try TemporaryRegistry(engine)
        let store = registry.store
        let laptop = try registry.addPeer("laptop")
        let desktop = try registry.addPeer("desktop")
        let pending = TemporaryRegistry.newKey()
        try rotate(registry, "desktop", to: pending)
        let revision = try store.revision()
        for key in [laptop.publicKey, desktop.publicKey, pending] {
            #expect { try rotate(registry, "laptop", to: key) } throws: { ($0 as? RegistryError)?.code == .duplicate }
        }
        #expect { try rotate(registry, "nobody", to: TemporaryRegistry.newKey()) } throws: {
            ($0 as? RegistryError)?.code == .notFound
        }
        #expect { try rotate(registry, "laptop", to: TemporaryRegistry.newKey(), grace: 0) } throws: {
            ($0 as? RegistryError)?.code == .invalidArgument
        }
        #expect(try store.revision() == revision)
        #expect(try store.peers().first { $0.name == "laptop" }?.rotation == nil)
    }

    @Test(arguments: RegistryEngine.all)
    func completionMovesTheAddressToTheNewKeyOnlyWhileThatKeyIsPending(engine: RegistryEngine) throws {
        let registry = try TemporaryRegistry(engine)
        let store = registry.store
        let peer = try registry.addPeer("laptop")
        let stale = TemporaryRegistry.newKey()
        let newKey = TemporaryRegistry.newKey()
        try rotate(registry, "laptop", to: stale, at: 1)
        let (rotating, _) = try rotate(registry, "laptop", to: newKey, at: 2)
        // A completion decided on an older snapshot must not win over the newer rotate.
        #expect(try store.completeRotation(peerID: peer.id, pendingKey: stale, now: registry.at(3)) == false)
        #expect(try store.completeRotation(peerID: peer.id, pendingKey: newKey, now: registry.at(3)) == true)

        let after = try #require(try store.peers(at: registry.at(4)).first)
        #expect(after.publicKey == newKey)
        #expect(after.address == peer.address)
        #expect(after.presharedKey == rotating.rotation?.presharedKey)
        #expect(after.rotation == nil)
        #expect(after == rotating.completingRotation())
        // The old key is nobody's any more: it may be registered again, by a new device.
        try registry.addPeer("reuse", key: peer.publicKey, at: 5)
        #expect(try store.completeRotation(peerID: peer.id, pendingKey: newKey, now: registry.at(6)) == false)
    }

    @Test(arguments: RegistryEngine.all) func cancellingRevokingOrExpiringEndsAPendingRotation(engine: RegistryEngine) throws {
        let registry = try TemporaryRegistry(engine)
        let store = registry.store
        let peer = try registry.addPeer("laptop")
        let key = TemporaryRegistry.newKey()
        try rotate(registry, "laptop", to: key)
        #expect(try store.cancelRotation(peerID: peer.id, pendingKey: key) == true)
        #expect(try store.peers().first?.rotation == nil)
        #expect(try store.cancelRotation(peerID: peer.id, pendingKey: key) == false)

        try rotate(registry, "laptop", to: key)
        try store.revokePeer("laptop")
        #expect(try store.peers(includingInactive: true).first?.rotation == nil)
        // The revoked peer's pending key is free again.
        try registry.addPeer("next", key: key, at: 1)

        try registry.addPeer("brief", expiresIn: 60)
        let briefKey = TemporaryRegistry.newKey()
        try rotate(registry, "brief", to: briefKey, at: 1)
        #expect { try rotate(registry, "brief", to: TemporaryRegistry.newKey(), at: 61) } throws: {
            ($0 as? RegistryError)?.code == .notFound
        }
        #expect(try store.completeRotation(peerID: 3, pendingKey: briefKey, now: registry.at(62)) == false)
    }
}
