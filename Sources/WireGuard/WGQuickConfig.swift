import Addressing
import Sodium

/// A wg-quick(8) configuration file: what a client imports to reach the PoP.
public struct WGQuickConfig: Sendable {
    /// `[Interface]`.
    public struct Interface: Sendable {
        /// The client's private key; nil when the client generated its own and keeps it.
        public var privateKey: Curve25519PrivateKey?
        /// `Address`: the client's tunnel addresses.
        public var addresses: [IPPrefix]
        /// `DNS`, if any.
        public var dns: [String]
        /// `MTU`, if set.
        public var mtu: Int?
        /// `ListenPort`, if set.
        public var listenPort: Int?

        /// Creates an interface section.
        public init(privateKey: Curve25519PrivateKey?, addresses: [IPPrefix], dns: [String] = [], mtu: Int? = nil, listenPort: Int? = nil) {
            self.privateKey = privateKey
            self.addresses = addresses
            self.dns = dns
            self.mtu = mtu
            self.listenPort = listenPort
        }
    }

    /// `[Peer]`.
    public struct Peer: Sendable {
        /// `PublicKey`.
        public var publicKey: Curve25519PublicKey
        /// `PresharedKey` as base64, if any. Secret.
        public var presharedKeyBase64: String?
        /// `Endpoint`.
        public var endpoint: SocketEndpoint?
        /// `AllowedIPs`.
        public var allowedIPs: [IPPrefix]
        /// `PersistentKeepalive` in seconds, if set.
        public var persistentKeepalive: Int?

        /// Creates a peer section.
        public init(
            publicKey: Curve25519PublicKey, presharedKeyBase64: String? = nil, endpoint: SocketEndpoint? = nil,
            allowedIPs: [IPPrefix], persistentKeepalive: Int? = nil
        ) {
            self.publicKey = publicKey
            self.presharedKeyBase64 = presharedKeyBase64
            self.endpoint = endpoint
            self.allowedIPs = allowedIPs
            self.persistentKeepalive = persistentKeepalive
        }
    }

    /// The local interface.
    public var interface: Interface
    /// The remote peers.
    public var peers: [Peer]

    /// Creates a config.
    public init(interface: Interface, peers: [Peer]) {
        self.interface = interface
        self.peers = peers
    }

    /// The file text, in the key order wg-quick's own examples use. Contains secrets.
    public func render(comment: String? = nil) -> String {
        var lines: [String] = []
        if let comment { lines += comment.split(separator: "\n").map { "# \($0)" } }
        lines.append("[Interface]")
        if let privateKey = interface.privateKey {
            lines.append("PrivateKey = \(privateKey.base64Secret())")
        } else {
            lines.append("# PrivateKey = <your own private key; this peer was registered with its public key only>")
        }
        lines.append("Address = \(interface.addresses.map(\.description).joined(separator: ", "))")
        if !interface.dns.isEmpty { lines.append("DNS = \(interface.dns.joined(separator: ", "))") }
        if let mtu = interface.mtu { lines.append("MTU = \(mtu)") }
        if let port = interface.listenPort { lines.append("ListenPort = \(port)") }
        for peer in peers {
            lines.append("")
            lines.append("[Peer]")
            lines.append("PublicKey = \(peer.publicKey)")
            if let psk = peer.presharedKeyBase64 { lines.append("PresharedKey = \(psk)") }
            if let endpoint = peer.endpoint { lines.append("Endpoint = \(endpoint)") }
            lines.append("AllowedIPs = \(peer.allowedIPs.map(\.description).joined(separator: ", "))")
            if let keepalive = peer.persistentKeepalive { lines.append("PersistentKeepalive = \(keepalive)") }
        }
        return lines.joined(separator: "\n") + "\n"
    }
}
