import Addressing
import Foundation
import Sodium
import WireGuard

/// What popnetd answers on its status socket: one JSON document per connection.
///
/// Snake-case keys, ISO 8601 times, explicit nulls. It carries public keys, endpoints and counters,
/// never a private or preshared key. Field meanings: docs/architecture.md ("Peer lifecycle").
public struct StatusDocument: Sendable, Equatable, Codable {
    /// One peer as the device reported it.
    public struct PeerEntry: Sendable, Equatable, Codable {
        /// Base64 public key.
        public var publicKey: String
        /// Where the peer was last seen (`ADDRESS:PORT`), or nil.
        public var endpoint: String?
        /// The last completed handshake, or nil for never.
        public var lastHandshake: Date?
        /// Bytes received from the peer.
        public var rxBytes: UInt64
        /// Bytes sent to the peer.
        public var txBytes: UInt64

        enum CodingKeys: String, CodingKey {
            case publicKey = "public_key", endpoint, lastHandshake = "last_handshake", rxBytes = "rx_bytes"
            case txBytes = "tx_bytes"
        }

        /// The entry for what the device reported about one peer.
        public init(_ status: PeerStatus) {
            publicKey = status.publicKey.base64
            endpoint = status.endpoint?.description
            lastHandshake = status.lastHandshake
            rxBytes = status.rxBytes
            txBytes = status.txBytes
        }
    }

    /// `kernel` or `userspace`.
    public var backend: String
    /// The edge interface.
    public var interface: String
    /// The UDP port the device listens on (the configured one until the device was first read).
    public var listenPort: Int
    /// The PoP's WireGuard public key.
    public var publicKey: String
    /// Peer entries the registry wants on the device (a pending rotation adds one).
    public var peersDesired: Int
    /// Peer entries on the device.
    public var peersOnDevice: Int
    /// Key rotations waiting for their new key's first handshake or their deadline.
    public var rotationsPending: Int
    /// The registry revision of the last reconcile.
    public var registryRevision: Int64?
    /// `synced` while the registry database is read, `degraded` while popnetd enforces its last
    /// snapshot because it cannot be (fail static); nil before the first read.
    public var registryState: String?
    /// Since when the registry has been unreadable, while degraded.
    public var registryDegradedSince: Date?
    /// Why it is unreadable, while degraded.
    public var registryError: String?
    /// When the last reconcile finished, or nil before the first.
    public var lastReconcile: Date?
    /// Why the most recent reconcile failed, or nil when it succeeded.
    public var lastError: String?
    /// Reconciles that found the device changed behind popnetd's back and changed it back.
    public var driftRepairs: Int
    /// Reconciles completed since popnetd started.
    public var reconciles: Int
    /// The device's peers, read when the document is served (after the last reconcile if that read fails).
    public var peers: [PeerEntry]
    /// Whether popnetd owns the nftables policy (table inet popgate).
    public var firewall: Bool
    /// Addresses in the policy's peer sets.
    public var firewallPeers: Int
    /// Outside changes to the table that popnetd found and undid.
    public var firewallRepairs: Int
    /// Why the most recent firewall operation failed, or nil when it succeeded.
    public var firewallError: String?

    enum CodingKeys: String, CodingKey {
        case backend, interface, listenPort = "listen_port", publicKey = "public_key", peersDesired = "peers_desired"
        case peersOnDevice = "peers_on_device", rotationsPending = "rotations_pending"
        case registryRevision = "registry_revision", lastReconcile = "last_reconcile", lastError = "last_error"
        case registryState = "registry_state", registryDegradedSince = "registry_degraded_since"
        case registryError = "registry_error"
        case driftRepairs = "drift_repairs", reconciles, peers
        case firewall, firewallPeers = "firewall_peers", firewallRepairs = "firewall_repairs"
        case firewallError = "firewall_error"
    }

    /// The document of a popnetd that has not reconciled yet.
    public init(backend: String, interface: String, listenPort: Int, publicKey: String) {
        self.backend = backend
        self.interface = interface
        self.listenPort = listenPort
        self.publicKey = publicKey
        peersDesired = 0
        peersOnDevice = 0
        rotationsPending = 0
        registryRevision = nil
        registryState = nil
        registryDegradedSince = nil
        registryError = nil
        lastReconcile = nil
        lastError = nil
        driftRepairs = 0
        reconciles = 0
        peers = []
        firewall = false
        firewallPeers = 0
        firewallRepairs = 0
        firewallError = nil
    }

    public func encode(to encoder: any Encoder) throws {
        // Written out so that absent values are explicit nulls (synthesised coding omits them).
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encode(backend, forKey: .backend)
        try c.encode(interface, forKey: .interface)
        try c.encode(listenPort, forKey: .listenPort)
        try c.encode(publicKey, forKey: .publicKey)
        try c.encode(peersDesired, forKey: .peersDesired)
        try c.encode(peersOnDevice, forKey: .peersOnDevice)
        try c.encode(rotationsPending, forKey: .rotationsPending)
        try c.encode(registryRevision, forKey: .registryRevision)
        try c.encode(registryState, forKey: .registryState)
        try c.encode(registryDegradedSince, forKey: .registryDegradedSince)
        try c.encode(registryError, forKey: .registryError)
        try c.encode(lastReconcile, forKey: .lastReconcile)
        try c.encode(lastError, forKey: .lastError)
        try c.encode(driftRepairs, forKey: .driftRepairs)
        try c.encode(reconciles, forKey: .reconciles)
        try c.encode(peers, forKey: .peers)
        try c.encode(firewall, forKey: .firewall)
        try c.encode(firewallPeers, forKey: .firewallPeers)
        try c.encode(firewallRepairs, forKey: .firewallRepairs)
        try c.encode(firewallError, forKey: .firewallError)
    }

    /// The document with the device's current peers and port instead of those of the last reconcile.
    public func withDevice(_ device: DeviceStatus) -> StatusDocument {
        var document = self
        document.peers = device.peers.map(PeerEntry.init)
        document.peersOnDevice = device.peers.count
        document.listenPort = device.listenPort ?? listenPort
        return document
    }

    /// The wire form: one line of JSON with sorted keys, then a newline.
    public func encoded() -> Data {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        encoder.dateEncodingStrategy = .iso8601
        // Encoding plain strings, numbers and dates cannot fail.
        return ((try? encoder.encode(self)) ?? Data("{}".utf8)) + Data("\n".utf8)
    }
}
