import Addressing
import Foundation
import Sodium
import WireGuard

/// An in-memory WireGuard device with the semantics popnetd relies on: removals first, an upsert
/// replaces a peer's allowed IPs, and an allowed IP belongs to one peer only (the last one given it).
final class FakeBackend: WireGuardBackend, @unchecked Sendable {
    let kind = "fake"
    let interface = "wg-test"
    private let lock = NSLock()
    private var device = DeviceStatus(publicKey: nil, listenPort: nil, peers: [])
    private var applied: [DeviceChange] = []
    /// When set, the next status read fails with it.
    var failure: WireGuardError?

    private var reads = 0

    var changes: [DeviceChange] { lock.withLock { applied } }
    /// How many times the device was read.
    var statusReads: Int { lock.withLock { reads } }
    var peers: [PeerStatus] { lock.withLock { device.peers } }

    func status() throws(WireGuardError) -> DeviceStatus {
        lock.lock()
        defer { lock.unlock() }
        reads += 1
        if let failure { throw failure }
        return device
    }

    func apply(_ change: DeviceChange) throws(WireGuardError) {
        lock.withLock {
            applied.append(change)
            if let key = change.privateKeyBase64 { device.publicKey = try? Curve25519PrivateKey(base64: key).publicKey }
            if let port = change.listenPort { device.listenPort = port }
            if change.replacePeers { device.peers.removeAll() }
            device.peers.removeAll { change.removePeers.contains($0.publicKey) }
            for wanted in change.upsertPeers {
                let taken = Set(wanted.allowedIPs.map(\.description))
                for index in device.peers.indices {
                    device.peers[index].allowedIPs.removeAll { taken.contains($0.description) }
                }
                let status = PeerStatus(
                    publicKey: wanted.publicKey, hasPresharedKey: wanted.presharedKeyBase64 != nil,
                    presharedKeyFingerprint: wanted.presharedKeyBase64.map(presharedKeyFingerprint(base64:)),
                    endpoint: nil, allowedIPs: wanted.allowedIPs, lastHandshake: nil, rxBytes: 0, txBytes: 0,
                    persistentKeepalive: wanted.persistentKeepalive
                )
                if let index = device.peers.firstIndex(where: { $0.publicKey == wanted.publicKey }) {
                    device.peers[index].allowedIPs = status.allowedIPs
                    device.peers[index].presharedKeyFingerprint = status.presharedKeyFingerprint
                    device.peers[index].hasPresharedKey = status.hasPresharedKey
                } else {
                    device.peers.append(status)
                }
            }
        }
    }

    /// Something other than popnetd changes the device (`wg set`).
    func tamper(_ body: (inout DeviceStatus) -> Void) { lock.withLock { body(&device) } }

    /// The client behind `key` completes a handshake at `time`.
    func handshake(_ key: Curve25519PublicKey, at time: Date) {
        tamper { device in
            if let index = device.peers.firstIndex(where: { $0.publicKey == key }) {
                device.peers[index].lastHandshake = time
                device.peers[index].endpoint = SocketEndpoint("198.51.100.10:40000")
                device.peers[index].rxBytes = 1234
            }
        }
    }

    func allowedIPs(of key: Curve25519PublicKey) -> [String]? {
        peers.first { $0.publicKey == key }.map { $0.allowedIPs.map(\.description) }
    }
}
