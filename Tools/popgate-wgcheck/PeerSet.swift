import Addressing
import Foundation
import Sodium
import WireGuard

/// Synthetic peer sets: one /32 each, preshared keys on every other peer, keepalive on every
/// third, so every attribute is exercised.
enum PeerSet {
    static let presharedKey = Data(Random.bytes(32)).base64EncodedString()

    static func make(_ count: Int, offset: Int = 0) -> [PeerConfiguration] {
        (offset..<(offset + count)).map { index in
            PeerConfiguration(
                publicKey: Curve25519PrivateKey().publicKey,
                presharedKeyBase64: index % 2 == 0 ? presharedKey : nil,
                allowedIPs: [address(index)],
                persistentKeepalive: index % 3 == 0 ? 25 : nil
            )
        }
    }

    /// 10.x.y.z/32 for index, skipping .0 and .255.
    static func address(_ index: Int) -> IPPrefix {
        let host = index % 254 + 1
        let rest = index / 254
        return IPPrefix("10.\(64 + rest / 256 % 64).\(rest % 256).\(host)/32")!
    }

    /// The same set in `wg setconf` format.
    static func setconf(privateKeyBase64: String, listenPort: Int, peers: [PeerConfiguration]) -> String {
        var lines = ["[Interface]", "PrivateKey = \(privateKeyBase64)", "ListenPort = \(listenPort)"]
        for peer in peers {
            lines.append("[Peer]")
            lines.append("PublicKey = \(peer.publicKey)")
            if let psk = peer.presharedKeyBase64 { lines.append("PresharedKey = \(psk)") }
            lines.append("AllowedIPs = \(peer.allowedIPs.map(\.description).joined(separator: ","))")
            if let keepalive = peer.persistentKeepalive { lines.append("PersistentKeepalive = \(keepalive)") }
        }
        return lines.joined(separator: "\n") + "\n"
    }
}
