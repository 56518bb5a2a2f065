import Addressing
import Foundation
import Logging
import NetAgent
import Registry
import Sodium
import Testing
import WireGuard

/// Reconcile passes against a real registry and an in-memory device, at chosen instants.
///
/// `start` is the real time (registry methods that take no instant use the clock), so the instants
/// tested keep clear of exact boundaries: a stored time read back may differ from it in the last bit.
@Suite struct ReconcilerTests {
    let store: RegistryStore
    let backend = FakeBackend()
    let board = StatusBoard(StatusDocument(backend: "fake", interface: "wg-test", listenPort: 51820, publicKey: "k"))
    let reconciler: Reconciler
    let start = Date()

    init() throws {
        store = try RegistryStore(path: NSTemporaryDirectory() + "popgate-reconciler-\(UUID().uuidString)/r.sqlite")
        try store.addTenant(name: "acme")
        reconciler = Reconciler(
            privateKey: Curve25519PrivateKey(), listenPort: 51820, store: store, backend: backend, board: board,
            logger: Logger(label: "test")
        )
    }

    func at(_ offset: TimeInterval) -> Date { start.addingTimeInterval(offset) }

    @discardableResult
    func addPeer(_ name: String, expiresIn: TimeInterval? = nil) throws -> Peer {
        try store.addPeer(
            tenant: "acme", name: name, publicKey: Curve25519PrivateKey().publicKey,
            presharedKey: WireGuardPresharedKey(), pool: IPPrefix("10.77.0.0/24")!, reserved: [IPAddress("10.77.0.1")!],
            expiresAt: expiresIn.map { at($0) }, now: start
        )
    }

    @discardableResult
    func pass(at offset: TimeInterval) throws -> Reconciler.Outcome {
        try reconciler.pass(try store.snapshot(at: at(offset)), now: at(offset))
    }

    @Test func driftIsRepairedAndCountedButRegistryChangesAreNot() throws {
        let laptop = try addPeer("laptop")
        #expect(try pass(at: 0).repairedDrift == false)
        #expect(try pass(at: 1).change.isEmpty)

        // `wg set wg-edge peer <laptop> remove` and a foreign peer, behind popnetd's back.
        let foreign = Curve25519PrivateKey().publicKey
        backend.tamper { device in
            device.peers.removeAll { $0.publicKey == laptop.publicKey }
            device.peers.append(PeerStatus(
                publicKey: foreign, hasPresharedKey: false, presharedKeyFingerprint: nil, endpoint: nil,
                allowedIPs: [IPPrefix("10.77.0.200/32")!], lastHandshake: nil, rxBytes: 0, txBytes: 0,
                persistentKeepalive: nil
            ))
        }
        let repair = try pass(at: 2)
        #expect(repair.repairedDrift)
        #expect(repair.change.upsertPeers.map(\.publicKey) == [laptop.publicKey])
        #expect(repair.change.removePeers == [foreign])
        #expect(board.current.driftRepairs == 1)

        try addPeer("desktop")
        let added = try pass(at: 3)
        #expect(!added.repairedDrift && added.change.upsertPeers.count == 1)
        let status = board.current
        #expect(status.driftRepairs == 1)
        #expect(status.reconciles == 4)
        #expect(status.peersDesired == 2 && status.peersOnDevice == 2)
        #expect(status.lastReconcile == at(3))
        #expect(status.lastError == nil)
    }

    @Test func aRegistryPassSendsOnlyTheChangeWithoutReadingTheDeviceAndDriftWaitsForADevicePass() throws {
        let laptop = try addPeer("laptop")
        try pass(at: 0)
        let reads = backend.statusReads
        let foreign = Curve25519PrivateKey().publicKey
        backend.tamper { device in
            device.peers.append(PeerStatus(
                publicKey: foreign, hasPresharedKey: false, presharedKeyFingerprint: nil, endpoint: nil,
                allowedIPs: [IPPrefix("10.77.0.200/32")!], lastHandshake: nil, rxBytes: 0, txBytes: 0,
                persistentKeepalive: nil
            ))
        }
        let desktop = try addPeer("desktop")
        let added = try reconciler.pass(try store.snapshot(at: at(1)), now: at(1), kind: .fromRegistry)
        #expect(backend.statusReads == reads)
        #expect(added.change.upsertPeers.map(\.publicKey) == [desktop.publicKey] && added.change.removePeers.isEmpty)
        _ = try store.revokePeer("laptop")
        let revoked = try reconciler.pass(try store.snapshot(at: at(2)), now: at(2), kind: .fromRegistry)
        #expect(revoked.change.removePeers == [laptop.publicKey] && revoked.change.upsertPeers.isEmpty)
        #expect(board.current.peersOnDevice == 1)  // the device as popnetd knows it: the foreign peer is unseen

        let repair = try reconciler.pass(try store.snapshot(at: at(3)), now: at(3), kind: .againstDevice)
        #expect(repair.repairedDrift && repair.change.removePeers == [foreign])
        #expect(Set(backend.peers.map(\.publicKey)) == [desktop.publicKey])
    }

    @Test func aRegistryPassBeforeAnyDeviceReadReadsTheDevice() throws {
        try addPeer("laptop")
        let first = try reconciler.pass(try store.snapshot(at: at(0)), now: at(0), kind: .fromRegistry)
        #expect(backend.statusReads == 1 && first.change.upsertPeers.count == 1)
    }

    @Test func anExpiredPeerLeavesTheDeviceWithoutARegistryWrite() throws {
        let brief = try addPeer("brief", expiresIn: 10)
        try addPeer("stays")
        try pass(at: 0)
        let revision = try store.revision()
        #expect(backend.peers.count == 2)
        // The snapshot read before the expiry is still in hand when the instant passes.
        let outcome = try reconciler.pass(try store.snapshot(at: at(5)), now: at(10.1))
        #expect(outcome.change.removePeers == [brief.publicKey])
        #expect(!outcome.repairedDrift)
        #expect(backend.peers.count == 1)
        #expect(try store.revision() == revision)
    }

    @Test func aRotationCompletesWhenTheNewKeyHandshakes() throws {
        let laptop = try addPeer("laptop")
        try pass(at: 0)
        let newKey = Curve25519PrivateKey().publicKey
        try store.beginRotation(
            "laptop", publicKey: newKey, presharedKey: WireGuardPresharedKey(), grace: 3600, now: at(1)
        )

        let during = try pass(at: 2)
        #expect(during.completedRotations.isEmpty)
        #expect(backend.allowedIPs(of: laptop.publicKey) == ["10.77.0.2/32"])
        #expect(backend.allowedIPs(of: newKey) == [])
        #expect(board.current.rotationsPending == 1 && board.current.peersOnDevice == 2)

        backend.handshake(newKey, at: at(3))
        let done = try pass(at: 3.5)
        #expect(done.completedRotations.map(\.reason) == [.handshake])
        #expect(!done.repairedDrift)
        #expect(backend.allowedIPs(of: laptop.publicKey) == nil)
        #expect(backend.allowedIPs(of: newKey) == ["10.77.0.2/32"])
        let recorded = try #require(try store.peers().first)
        #expect(recorded.publicKey == newKey && recorded.rotation == nil && recorded.address == laptop.address)
        // The next pass, on the snapshot that records the completion, has nothing to do.
        #expect(try pass(at: 4).change.isEmpty)
        let entry = try #require(board.current.peers.first)
        #expect(entry.publicKey == newKey.base64 && entry.endpoint == "198.51.100.10:40000" && entry.rxBytes == 1234)
    }

    @Test func aRotationCompletesAtTheEndOfItsGracePeriod() throws {
        let laptop = try addPeer("laptop")
        let newKey = Curve25519PrivateKey().publicKey
        try store.beginRotation("laptop", publicKey: newKey, presharedKey: nil, grace: 60, now: at(0))
        #expect(try pass(at: 59.9).completedRotations.isEmpty)
        let done = try pass(at: 60.1)
        #expect(done.completedRotations.map(\.reason) == [.gracePeriodEnded])
        #expect(backend.allowedIPs(of: laptop.publicKey) == nil)
        #expect(backend.allowedIPs(of: newKey) == ["10.77.0.2/32"])
        #expect(try store.peers().first?.publicKey == newKey)
    }

    @Test func aFailedPassIsReportedAndChangesNothing() throws {
        try addPeer("laptop")
        backend.failure = WireGuardError("wireguard-go is gone")
        #expect(throws: WireGuardError.self) { try pass(at: 0) }
        #expect(board.current.lastError?.contains("wireguard-go is gone") == true)
        #expect(board.current.reconciles == 0)
        #expect(backend.changes.isEmpty)
        backend.failure = nil
        #expect(try pass(at: 1).repairedDrift == false)
        #expect(board.current.lastError == nil)
    }
}
