import Sodium
import WireGuard

extension DeviceStatus {
    /// What the device holds once `change` has been applied, derived instead of read back: a read
    /// of 10,000 peers costs tens of milliseconds, and every change would pay it twice. Peers the
    /// change leaves alone keep their endpoint, handshake and counters; new ones start empty, as
    /// they do on the device.
    func applying(_ change: DeviceChange, devicePublicKey: Curve25519PublicKey) -> DeviceStatus {
        let removed = Set(change.removePeers)
        let upserted = Dictionary(change.upsertPeers.map { ($0.publicKey, $0) }, uniquingKeysWith: { _, last in last })
        var result = DeviceStatus(
            publicKey: change.privateKeyBase64 == nil ? publicKey : devicePublicKey,
            listenPort: change.listenPort ?? listenPort, peers: []
        )
        var kept = Set<Curve25519PublicKey>()
        for var peer in peers where !removed.contains(peer.publicKey) {
            kept.insert(peer.publicKey)
            if let wanted = upserted[peer.publicKey] { peer.configure(wanted) }
            result.peers.append(peer)
        }
        for wanted in change.upsertPeers where !kept.contains(wanted.publicKey) {
            var peer = PeerStatus(
                publicKey: wanted.publicKey, hasPresharedKey: false, presharedKeyFingerprint: nil,
                endpoint: wanted.endpoint, allowedIPs: [], lastHandshake: nil, rxBytes: 0, txBytes: 0,
                persistentKeepalive: nil
            )
            peer.configure(wanted)
            result.peers.append(peer)
        }
        return result
    }
}

extension PeerStatus {
    fileprivate mutating func configure(_ wanted: PeerConfiguration) {
        hasPresharedKey = wanted.presharedKeyBase64 != nil
        presharedKeyFingerprint = wanted.presharedKeyBase64.map(presharedKeyFingerprint(base64:))
        allowedIPs = wanted.allowedIPs
        persistentKeepalive = wanted.persistentKeepalive
        if let endpoint = wanted.endpoint { self.endpoint = endpoint }
    }
}
