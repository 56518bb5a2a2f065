import Addressing
import Foundation
import NetAgent
import Registry
import Sodium
import Testing
import WireGuard

/// The desired device during and after a key rotation, and when a rotation is complete.
@Suite struct RotationPlanTests {
    static let popKey = Curve25519PrivateKey()
    static let start = Date(timeIntervalSince1970: 1_900_000_000)

    static func rotatingPeer(deadlineIn grace: TimeInterval = 3600) -> Peer {
        Peer(
            id: 1, tenantID: 1, tenantName: "acme", name: "laptop", publicKey: Curve25519PrivateKey().publicKey,
            address: IPAddress("10.77.0.2")!, presharedKey: WireGuardPresharedKey(), state: .active, createdAt: start,
            rotation: PendingRotation(
                publicKey: Curve25519PrivateKey().publicKey, presharedKey: WireGuardPresharedKey(), startedAt: start,
                deadline: start.addingTimeInterval(grace)
            )
        )
    }

    static func desired(_ peers: [Peer]) -> DesiredDevice {
        DesiredDevice(privateKey: popKey, listenPort: 51820, peers: peers)
    }

    @Test func duringARotationTheOldKeyHoldsTheAddressAndTheNewKeyNone() throws {
        let peer = Self.rotatingPeer()
        let rotation = try #require(peer.rotation)
        let during = Self.desired([peer])
        #expect(during.peers.count == 2)
        let old = try #require(during.peers[peer.publicKey])
        #expect(old.allowedIPs.map(\.description) == ["10.77.0.2/32"])
        #expect(old.presharedKeyBase64 == peer.presharedKey?.base64Secret())
        let new = try #require(during.peers[rotation.publicKey])
        #expect(new.allowedIPs.isEmpty)
        #expect(new.presharedKeyBase64 == rotation.presharedKey?.base64Secret())
    }

    @Test func afterTheRotationOnlyTheNewKeyRemainsWithTheAddress() throws {
        let peer = Self.rotatingPeer()
        let rotation = try #require(peer.rotation)
        let after = Self.desired([peer.completingRotation()])
        #expect(Array(after.peers.keys) == [rotation.publicKey])
        #expect(after.peers[rotation.publicKey]?.allowedIPs.map(\.description) == ["10.77.0.2/32"])
        #expect(after.peers[rotation.publicKey]?.presharedKeyBase64 == rotation.presharedKey?.base64Secret())
    }

    @Test func completingIsOneChangeRemovingTheOldKeyAndMovingTheAddress() throws {
        let peer = Self.rotatingPeer()
        let rotation = try #require(peer.rotation)
        let duringDevice = ReconcilePlanTests.deviceMatching(Self.desired([peer]))
        let change = ReconcilePlan.diff(desired: Self.desired([peer.completingRotation()]), actual: duringDevice)
        #expect(change.removePeers == [peer.publicKey])
        #expect(change.upsertPeers.map(\.publicKey) == [rotation.publicKey])
        #expect(change.upsertPeers.first?.allowedIPs.map(\.description) == ["10.77.0.2/32"])
        #expect(change.privateKeyBase64 == nil && change.listenPort == nil)
    }

    @Test func aReplacedPendingKeyLeavesTheDevice() throws {
        let peer = Self.rotatingPeer()
        let duringDevice = ReconcilePlanTests.deviceMatching(Self.desired([peer]))
        let replaced = Peer(
            id: peer.id, tenantID: 1, tenantName: "acme", name: peer.name, publicKey: peer.publicKey,
            address: peer.address, presharedKey: peer.presharedKey, state: .active, createdAt: Self.start,
            rotation: PendingRotation(
                publicKey: Curve25519PrivateKey().publicKey, presharedKey: nil, startedAt: Self.start,
                deadline: Self.start
            )
        )
        let change = ReconcilePlan.diff(desired: Self.desired([replaced]), actual: duringDevice)
        #expect(change.removePeers == [try #require(peer.rotation).publicKey])
        #expect(change.upsertPeers.map(\.publicKey) == [try #require(replaced.rotation).publicKey])
    }

    @Test func aRotationCompletesOnANewHandshakeOrAtItsDeadline() throws {
        let peer = Self.rotatingPeer(deadlineIn: 60)
        let rotation = try #require(peer.rotation)
        var device = ReconcilePlanTests.deviceMatching(Self.desired([peer]))
        let index = try #require(device.peers.firstIndex { $0.publicKey == rotation.publicKey })

        #expect(RotationCheck.due(peers: [peer], device: device, now: Self.start.addingTimeInterval(30)).isEmpty)
        // A handshake from before the rotation started proves nothing about the new config.
        device.peers[index].lastHandshake = Self.start.addingTimeInterval(-5)
        #expect(RotationCheck.due(peers: [peer], device: device, now: Self.start.addingTimeInterval(30)).isEmpty)
        // Nor does the old key's handshake.
        var oldOnly = device
        let oldIndex = try #require(oldOnly.peers.firstIndex { $0.publicKey == peer.publicKey })
        oldOnly.peers[oldIndex].lastHandshake = Self.start.addingTimeInterval(20)
        #expect(RotationCheck.due(peers: [peer], device: oldOnly, now: Self.start.addingTimeInterval(30)).isEmpty)

        // Reported to the whole second (wireguard-go's UAPI), the handshake may look older than a start
        // within the same second; it still counts.
        let sameSecond = Self.start.addingTimeInterval(0.6)
        let rotatingLate = Peer(
            id: 1, tenantID: 1, tenantName: "acme", name: "laptop", publicKey: peer.publicKey, address: peer.address,
            presharedKey: nil, state: .active, createdAt: Self.start,
            rotation: PendingRotation(
                publicKey: rotation.publicKey, presharedKey: nil, startedAt: sameSecond, deadline: sameSecond + 60
            )
        )
        device.peers[index].lastHandshake = Self.start
        #expect(RotationCheck.due(peers: [rotatingLate], device: device, now: sameSecond).map(\.reason) == [.handshake])

        device.peers[index].lastHandshake = Self.start.addingTimeInterval(1)
        let byHandshake = RotationCheck.due(peers: [peer], device: device, now: Self.start.addingTimeInterval(30))
        #expect(byHandshake.map(\.reason) == [.handshake])

        device.peers[index].lastHandshake = nil
        let byDeadline = RotationCheck.due(peers: [peer], device: device, now: Self.start.addingTimeInterval(60))
        #expect(byDeadline.map(\.reason) == [.gracePeriodEnded])
        #expect(byDeadline.first?.peer == peer)
        #expect(RotationCheck.nextDeadline(peers: [peer]) == Self.start.addingTimeInterval(60))
    }
}
