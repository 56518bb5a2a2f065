import Addressing
import Registry
import Sodium
import WireGuard

/// The device popgate wants: the PoP's identity and one WireGuard peer per live registry key.
public struct DesiredDevice: Sendable, Equatable {
    /// The public key of the PoP's private key (what the device must report).
    public var publicKey: Curve25519PublicKey
    /// The PoP's private key as base64, sent only when the device holds another key.
    public var privateKeyBase64: String
    /// The UDP port.
    public var listenPort: Int
    /// Peers, by public key.
    public var peers: [Curve25519PublicKey: PeerConfiguration]

    /// Builds the desired state from registry peers: each may send only from its own address.
    ///
    /// A peer in the middle of a key rotation has two keys on the device: the current one with the
    /// address, and the next one with no allowed IPs. WireGuard routes an address to one key only,
    /// and a key without allowed IPs can still handshake, which is how popnetd learns that the new
    /// client config is in use. Completing the rotation (``Peer/completingRotation()``) moves the
    /// address over and leaves the old key out.
    public init(privateKey: Curve25519PrivateKey, listenPort: Int, peers: [Peer]) {
        publicKey = privateKey.publicKey
        privateKeyBase64 = privateKey.base64Secret()
        self.listenPort = listenPort
        var byKey: [Curve25519PublicKey: PeerConfiguration] = [:]
        let active = peers.filter { $0.state == .active }
        for peer in active {
            byKey[peer.publicKey] = PeerConfiguration(
                publicKey: peer.publicKey, presharedKeyBase64: peer.presharedKey?.base64Secret(),
                allowedIPs: [IPPrefix(address: peer.address, length: peer.address.bitWidth)!]
            )
        }
        // After the current keys, so a pending key can never take a current key's place (the
        // registry refuses such a key anyway).
        for peer in active {
            guard let rotation = peer.rotation, byKey[rotation.publicKey] == nil else { continue }
            byKey[rotation.publicKey] = PeerConfiguration(
                publicKey: rotation.publicKey, presharedKeyBase64: rotation.presharedKey?.base64Secret(), allowedIPs: []
            )
        }
        self.peers = byKey
    }
}

/// The smallest change that turns the device's actual state into the desired one.
///
/// Unchanged peers are left out entirely: re-sending a peer is harmless to its keys but costs
/// a message per peer, and with the kernel backend it would reset nothing only if every field
/// matched, so the rule is simply never to send what is already right.
public enum ReconcilePlan {
    /// The change to apply; empty when the device already matches.
    public static func diff(desired: DesiredDevice, actual: DeviceStatus) -> DeviceChange {
        var change = DeviceChange()
        if actual.publicKey != desired.publicKey { change.privateKeyBase64 = desired.privateKeyBase64 }
        if actual.listenPort != desired.listenPort { change.listenPort = desired.listenPort }
        var seen = Set<Curve25519PublicKey>()
        for peer in actual.peers {
            seen.insert(peer.publicKey)
            guard let wanted = desired.peers[peer.publicKey] else {
                change.removePeers.append(peer.publicKey)
                continue
            }
            if !matches(wanted, peer) { change.upsertPeers.append(wanted) }
        }
        for (key, wanted) in desired.peers where !seen.contains(key) {
            change.upsertPeers.append(wanted)
        }
        change.upsertPeers.sort { $0.publicKey.base64 < $1.publicKey.base64 }
        change.removePeers.sort { $0.base64 < $1.base64 }
        return change
    }

    /// The change from one desired state to the next, for a device known to hold `previous`:
    /// what a registry change needs, without reading the device.
    public static func diff(from previous: DesiredDevice, to desired: DesiredDevice) -> DeviceChange {
        var change = DeviceChange()
        if previous.publicKey != desired.publicKey { change.privateKeyBase64 = desired.privateKeyBase64 }
        if previous.listenPort != desired.listenPort { change.listenPort = desired.listenPort }
        for (key, wanted) in desired.peers where previous.peers[key] != wanted { change.upsertPeers.append(wanted) }
        for key in previous.peers.keys where desired.peers[key] == nil { change.removePeers.append(key) }
        change.upsertPeers.sort { $0.publicKey.base64 < $1.publicKey.base64 }
        change.removePeers.sort { $0.base64 < $1.base64 }
        return change
    }

    private static func matches(_ wanted: PeerConfiguration, _ actual: PeerStatus) -> Bool {
        guard wanted.persistentKeepalive == actual.persistentKeepalive else { return false }
        // The usual case first: one address each, in the same order (compared as text only otherwise).
        guard wanted.allowedIPs == actual.allowedIPs
            || Set(wanted.allowedIPs.map(\.description)) == Set(actual.allowedIPs.map(\.description))
        else { return false }
        return wanted.presharedKeyBase64.map(presharedKeyFingerprint(base64:)) == actual.presharedKeyFingerprint
    }
}
