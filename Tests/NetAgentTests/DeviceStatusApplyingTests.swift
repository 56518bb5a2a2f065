import Addressing
import Foundation
@testable import NetAgent
import Registry
import Sodium
import Testing
import WireGuard

@Suite struct DeviceStatusApplyingTests {
    /// The derived view after a change must be what a fresh read would give, or the next pass
    /// would see drift that is not there: checked by diffing it against the desired state again.
    @Test func theDerivedDeviceMatchesTheDesiredStateAndKeepsLiveCounters() {
        let popKey = Curve25519PrivateKey()
        let old = (0..<3).map { ReconcilePlanTests.peer(Int64($0), "10.77.0.\($0 + 2)", psk: WireGuardPresharedKey()) }
        var actual = ReconcilePlanTests.deviceMatching(DesiredDevice(privateKey: popKey, listenPort: 51820, peers: old))
        actual.peers = actual.peers.map { peer in
            var peer = peer
            peer.rxBytes = 1234
            peer.lastHandshake = Date(timeIntervalSince1970: 1_900_000_000)
            return peer
        }
        // One peer removed, one moved to another address, one added.
        let moved = Peer(
            id: old[1].id, tenantID: 1, tenantName: "acme", name: old[1].name, publicKey: old[1].publicKey,
            address: IPAddress("10.77.0.9")!, presharedKey: old[1].presharedKey, state: .active, createdAt: Date()
        )
        let wanted = [old[0], moved, ReconcilePlanTests.peer(7, "10.77.0.8")]
        let desired = DesiredDevice(privateKey: popKey, listenPort: 51820, peers: wanted)
        let change = ReconcilePlan.diff(desired: desired, actual: actual)
        #expect(change.removePeers.count == 1 && change.upsertPeers.count == 2)

        let after = actual.applying(change, devicePublicKey: popKey.publicKey)
        #expect(ReconcilePlan.diff(desired: desired, actual: after).isEmpty)
        #expect(Set(after.peers.map(\.publicKey)) == Set(wanted.map(\.publicKey)))
        let movedAfter = after.peers.first { $0.publicKey == moved.publicKey }
        #expect(movedAfter?.rxBytes == 1234 && movedAfter?.lastHandshake != nil)
        #expect(after.peers.first { $0.publicKey == wanted[2].publicKey }?.rxBytes == 0)
    }
}
