import Addressing
import Foundation
import NetAgent
import Registry
import Sodium
import Testing
import WireGuard

@Suite struct ReconcilePlanTests {
    static let popKey = Curve25519PrivateKey()

    static func peer(_ id: Int64, _ address: String, psk: WireGuardPresharedKey? = nil) -> Peer {
        Peer(
            id: id, tenantID: 1, tenantName: "acme", name: "p\(id)", publicKey: Curve25519PrivateKey().publicKey,
            address: IPAddress(address)!, presharedKey: psk, state: .active, createdAt: Date()
        )
    }

    /// What the device would report after applying `desired` exactly.
    static func deviceMatching(_ desired: DesiredDevice) -> DeviceStatus {
        DeviceStatus(
            publicKey: desired.publicKey, listenPort: desired.listenPort,
            peers: desired.peers.values.map { peer in
                PeerStatus(
                    publicKey: peer.publicKey, hasPresharedKey: peer.presharedKeyBase64 != nil,
                    presharedKeyFingerprint: peer.presharedKeyBase64.map(presharedKeyFingerprint(base64:)), endpoint: nil,
                    allowedIPs: peer.allowedIPs, lastHandshake: nil, rxBytes: 0, txBytes: 0, persistentKeepalive: nil
                )
            }
        )
    }

    @Test func anEmptyDeviceGetsKeyPortAndEveryPeer() {
        let peers = [Self.peer(1, "10.77.0.2", psk: WireGuardPresharedKey()), Self.peer(2, "10.77.0.3")]
        let desired = DesiredDevice(privateKey: Self.popKey, listenPort: 51820, peers: peers)
        let change = ReconcilePlan.diff(desired: desired, actual: DeviceStatus(publicKey: nil, listenPort: 0, peers: []))
        #expect(change.privateKeyBase64 == Self.popKey.base64Secret())
        #expect(change.listenPort == 51820)
        #expect(Set(change.upsertPeers.map(\.publicKey)) == Set(peers.map(\.publicKey)))
        #expect(change.upsertPeers.allSatisfy { $0.allowedIPs.count == 1 && $0.allowedIPs[0].length == 32 })
        #expect(change.removePeers.isEmpty)
    }

    @Test func aMatchingDeviceGetsNoMessageAtAll() {
        let desired = DesiredDevice(
            privateKey: Self.popKey, listenPort: 51820,
            peers: (2..<200).map { Self.peer(Int64($0), "10.77.0.\($0)", psk: WireGuardPresharedKey()) }
        )
        #expect(ReconcilePlan.diff(desired: desired, actual: Self.deviceMatching(desired)).isEmpty)
    }

    @Test func onlyChangedPeersAreSent() {
        let kept = Self.peer(1, "10.77.0.2")
        let moved = Self.peer(2, "10.77.0.3")
        let revoked = Self.peer(3, "10.77.0.4")
        let before = DesiredDevice(privateKey: Self.popKey, listenPort: 51820, peers: [kept, moved, revoked])
        var actual = Self.deviceMatching(before)
        // Someone added a peer behind popnetd's back, and changed another's allowed IPs.
        let foreign = Curve25519PrivateKey().publicKey
        actual.peers.append(PeerStatus(
            publicKey: foreign, hasPresharedKey: false, presharedKeyFingerprint: nil, endpoint: nil,
            allowedIPs: [IPPrefix("0.0.0.0/0")!], lastHandshake: nil, rxBytes: 0, txBytes: 0, persistentKeepalive: nil
        ))
        if let index = actual.peers.firstIndex(where: { $0.publicKey == moved.publicKey }) {
            actual.peers[index].allowedIPs = [IPPrefix("10.77.0.0/24")!]
        }
        let after = DesiredDevice(privateKey: Self.popKey, listenPort: 51820, peers: [kept, moved])
        let change = ReconcilePlan.diff(desired: after, actual: actual)
        #expect(change.privateKeyBase64 == nil && change.listenPort == nil && !change.replacePeers)
        #expect(change.upsertPeers.map(\.publicKey) == [moved.publicKey])
        #expect(Set(change.removePeers) == [revoked.publicKey, foreign])
    }

    @Test func aChangedPresharedKeyIsResent() {
        let peer = Self.peer(1, "10.77.0.2", psk: WireGuardPresharedKey())
        let desired = DesiredDevice(privateKey: Self.popKey, listenPort: 51820, peers: [peer])
        var actual = Self.deviceMatching(desired)
        actual.peers[0].presharedKeyFingerprint = "something else"
        #expect(ReconcilePlan.diff(desired: desired, actual: actual).upsertPeers.count == 1)
    }
}
