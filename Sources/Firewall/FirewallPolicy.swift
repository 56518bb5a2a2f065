import Addressing

/// The appliance's closed network policy, before it is rendered to nftables.
///
/// Everything not named here is dropped: the model lists what may pass, per interface, so a
/// missing field can only close the node further, never open it.
public struct FirewallPolicy: Hashable, Sendable, Codable {
    /// The public interface WireGuard clients reach, and the UDP ports WireGuard listens on.
    public struct Uplink: Hashable, Sendable, Codable {
        /// The interface name, e.g. `eth0`.
        public var interface: String
        /// UDP ports WireGuard listens on (1-65535, at least one).
        public var wireGuardPorts: [Int]
        /// Creates the section.
        public init(interface: String, wireGuardPorts: [Int]) {
            self.interface = interface
            self.wireGuardPorts = wireGuardPorts
        }
    }

    /// The edge WireGuard interface; the API port is open to addresses in `@edge_peers_v4/v6` only.
    public struct Edge: Hashable, Sendable, Codable {
        /// The edge WireGuard interface, e.g. `wg-edge`.
        public var interface: String
        /// The TCP port popgated listens on.
        public var apiPort: Int
        /// The address popgated listens on (the PoP's tunnel address). When set, the API rule
        /// accepts only packets to it: a peer aiming at another of the node's addresses (the
        /// backbone's, the uplink's) through the tunnel is dropped, not answered with a reset by
        /// a port nobody listens on. nil (the boot file) accepts the port on any local address.
        public var apiAddress: IPAddress?
        /// Creates the section.
        public init(interface: String, apiPort: Int, apiAddress: IPAddress? = nil) {
            self.interface = interface
            self.apiPort = apiPort
            self.apiAddress = apiAddress
        }
    }

    /// The management interface, and who may reach which TCP ports (ssh, metrics) on it.
    public struct Management: Hashable, Sendable, Codable {
        /// The management interface.
        public var interface: String
        /// Networks allowed in (network addresses, no host bits, not /0).
        public var allowedPrefixes: [IPPrefix]
        /// TCP ports they may reach (ssh 22, metrics).
        public var ports: [Int]
        /// Creates the section.
        public init(interface: String, allowedPrefixes: [IPPrefix], ports: [Int]) {
            self.interface = interface
            self.allowedPrefixes = allowedPrefixes
            self.ports = ports
        }
    }

    /// The backbone interface to inference workers: the appliance may open TCP connections to
    /// these prefixes and ports, and nothing else on it.
    public struct Backbone: Hashable, Sendable, Codable {
        /// The backbone interface.
        public var interface: String
        /// Networks the workers are in.
        public var workerPrefixes: [IPPrefix]
        /// TCP ports of the workers' APIs.
        public var ports: [Int]
        /// Creates the section.
        public init(interface: String, workerPrefixes: [IPPrefix], ports: [Int]) {
            self.interface = interface
            self.workerPrefixes = workerPrefixes
            self.ports = ports
        }
    }

    /// One more thing the appliance itself may send (e.g. DNS or NTP to a named server).
    public struct OutputAllowance: Hashable, Sendable, Codable {
        /// The interface the packets leave by.
        public var interface: String
        /// Where they may go.
        public var destination: IPPrefix
        /// TCP or UDP.
        public var transport: TransportProtocol
        /// The destination port.
        public var port: Int
        /// Creates the allowance.
        public init(interface: String, destination: IPPrefix, transport: TransportProtocol, port: Int) {
            self.interface = interface
            self.destination = destination
            self.transport = transport
            self.port = port
        }
    }

    /// Where WireGuard arrives.
    public var uplink: Uplink
    /// Where the API is served.
    public var edge: Edge
    /// Operator access; nil closes it entirely.
    public var management: Management?
    /// The workers; nil means the appliance opens no backbone connection.
    public var backbone: Backbone?
    /// Anything else the appliance itself may send.
    public var outputAllowances: [OutputAllowance]

    /// Creates a policy; call ``validate()`` (``Firewall`` does) before it is rendered.
    public init(
        uplink: Uplink, edge: Edge, management: Management? = nil, backbone: Backbone? = nil,
        outputAllowances: [OutputAllowance] = []
    ) {
        self.uplink = uplink
        self.edge = edge
        self.management = management
        self.backbone = backbone
        self.outputAllowances = outputAllowances
    }

    /// The configuration `nftables/popgate.nft` is written for (docs/architecture.md,
    /// "Firewall"): the interface names and ports of docs/configuration.md's example.
    public static let documentedDefault = FirewallPolicy(
        uplink: Uplink(interface: "eth0", wireGuardPorts: [51820]),
        edge: Edge(interface: "wg-edge", apiPort: 8080),
        management: Management(interface: "mgmt0", allowedPrefixes: [IPPrefix("192.0.2.0/24")!], ports: [22, 9100]),
        backbone: Backbone(interface: "bb0", workerPrefixes: [IPPrefix("10.99.0.0/24")!], ports: [8000])
    )
}

/// A transport protocol a rule can match.
public enum TransportProtocol: String, Hashable, Sendable, Codable {
    case tcp, udp

    /// The IP protocol number (`meta l4proto`).
    var number: UInt8 { self == .tcp ? 6 : 17 }
}
