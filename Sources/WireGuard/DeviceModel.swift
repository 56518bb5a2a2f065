import Addressing
import Foundation
import Sodium

/// The configuration of one peer as popgate wants it on the device.
public struct PeerConfiguration: Sendable, Equatable {
    /// The peer's identity.
    public var publicKey: Curve25519PublicKey
    /// The preshared key as base64, or nil for none. Secret.
    public var presharedKeyBase64: String?
    /// The addresses the peer may send from and that are routed to it.
    public var allowedIPs: [IPPrefix]
    /// Where to send to before the peer first writes (clients usually have none).
    public var endpoint: SocketEndpoint?
    /// Seconds between keepalives, or nil for off.
    public var persistentKeepalive: Int?

    /// Creates a peer configuration.
    public init(
        publicKey: Curve25519PublicKey, presharedKeyBase64: String? = nil, allowedIPs: [IPPrefix],
        endpoint: SocketEndpoint? = nil, persistentKeepalive: Int? = nil
    ) {
        self.publicKey = publicKey
        self.presharedKeyBase64 = presharedKeyBase64
        self.allowedIPs = allowedIPs
        self.endpoint = endpoint
        self.persistentKeepalive = persistentKeepalive
    }
}

/// One change to a device. `nil` fields mean "leave as is", so unchanged peers are never sent.
public struct DeviceChange: Sendable, Equatable {
    /// The interface's private key as base64, when it changes. Secret.
    public var privateKeyBase64: String?
    /// The listen port, when it changes.
    public var listenPort: Int?
    /// The firewall mark of the device's packets, when it changes (0 = none).
    public var firewallMark: UInt32?
    /// Remove every peer not named in `upsertPeers` first.
    public var replacePeers: Bool
    /// Peers to add or to update (their allowed IPs are replaced, not merged).
    public var upsertPeers: [PeerConfiguration]
    /// Peers to remove.
    public var removePeers: [Curve25519PublicKey]

    /// Creates a change.
    public init(
        privateKeyBase64: String? = nil, listenPort: Int? = nil, firewallMark: UInt32? = nil, replacePeers: Bool = false,
        upsertPeers: [PeerConfiguration] = [], removePeers: [Curve25519PublicKey] = []
    ) {
        self.privateKeyBase64 = privateKeyBase64
        self.listenPort = listenPort
        self.firewallMark = firewallMark
        self.replacePeers = replacePeers
        self.upsertPeers = upsertPeers
        self.removePeers = removePeers
    }

    /// True when applying it would change nothing.
    public var isEmpty: Bool {
        privateKeyBase64 == nil && listenPort == nil && firewallMark == nil && !replacePeers && upsertPeers.isEmpty && removePeers.isEmpty
    }
}

/// What the device reports about one peer.
public struct PeerStatus: Sendable, Equatable {
    /// The peer's identity.
    public var publicKey: Curve25519PublicKey
    /// Whether a preshared key is set (the key itself is not kept).
    public var hasPresharedKey: Bool
    /// Fingerprint of the preshared key (SHA-256, hex), so a change can be detected without keeping it.
    public var presharedKeyFingerprint: String?
    /// The last endpoint the peer was seen at.
    public var endpoint: SocketEndpoint?
    /// Its allowed IPs.
    public var allowedIPs: [IPPrefix]
    /// The last completed handshake, or nil for never.
    public var lastHandshake: Date?
    /// Bytes received from it.
    public var rxBytes: UInt64
    /// Bytes sent to it.
    public var txBytes: UInt64
    /// Keepalive interval in seconds, or nil for off.
    public var persistentKeepalive: Int?

    /// Creates a peer status.
    public init(
        publicKey: Curve25519PublicKey, hasPresharedKey: Bool, presharedKeyFingerprint: String?, endpoint: SocketEndpoint?,
        allowedIPs: [IPPrefix], lastHandshake: Date?, rxBytes: UInt64, txBytes: UInt64, persistentKeepalive: Int?
    ) {
        self.publicKey = publicKey
        self.hasPresharedKey = hasPresharedKey
        self.presharedKeyFingerprint = presharedKeyFingerprint
        self.endpoint = endpoint
        self.allowedIPs = allowedIPs
        self.lastHandshake = lastHandshake
        self.rxBytes = rxBytes
        self.txBytes = txBytes
        self.persistentKeepalive = persistentKeepalive
    }
}

/// What the device reports about itself.
public struct DeviceStatus: Sendable, Equatable {
    /// The public key of the interface's private key, when one is set.
    public var publicKey: Curve25519PublicKey?
    /// The UDP port it listens on.
    public var listenPort: Int?
    /// Its peers, in the device's order.
    public var peers: [PeerStatus]

    /// Creates a device status.
    public init(publicKey: Curve25519PublicKey?, listenPort: Int?, peers: [PeerStatus]) {
        self.publicKey = publicKey
        self.listenPort = listenPort
        self.peers = peers
    }
}

/// A WireGuard implementation popgate can configure: wireguard-go over UAPI now, the kernel
/// module over generic netlink next. Both speak this protocol so the reconciler does not care.
public protocol WireGuardBackend: Sendable {
    /// A short name for logs and status (`userspace`, `kernel`).
    var kind: String { get }
    /// The interface name.
    var interface: String { get }
    /// Reads the device's current state.
    func status() throws(WireGuardError) -> DeviceStatus
    /// Applies `change` as one operation.
    func apply(_ change: DeviceChange) throws(WireGuardError)
}

/// Fingerprints a preshared key so state can be compared without holding the secret.
public func presharedKeyFingerprint(base64 text: String) -> String {
    Hex.encode(SHA256.hash(Array(text.utf8)))
}
