import Addressing

/// The appliance's closed network policy, before it is rendered to nftables.
///
/// Everything not named here is dropped: the model lists what may pass, per interface, so a
/// missing field can only close the node further, never open it.
public struct FirewallPolicy: Hashable, Sendable, Codable {
    /// The public interface WireGuard clients reach, and the UDP ports WireGuard listens on.
    public struct Uplink: Hashable, Sendable, Codable {
        public var interface: String
        public var wireGuardPorts: [Int]
        public init(interface: String, wireGuardPorts: [Int]) {
            self.interface = interface
            self.wireGuardPorts = wireGuardPorts
        }
    }

    /// The edge WireGuard interface; the API port is open to addresses in `@edge_peers_v4/v6` only.
    public struct Edge: Hashable, Sendable, Codable {
        public var interface: String
        public var apiPort: Int
        public init(interface: String, apiPort: Int) {
            self.interface = interface
            self.apiPort = apiPort
        }
    }

    /// The management interface, and who may reach which TCP ports (ssh, metrics) on it.
    public struct Management: Hashable, Sendable, Codable {
        public var interface: String
        public var allowedPrefixes: [IPPrefix]
        public var ports: [Int]
        public init(interface: String, allowedPrefixes: [IPPrefix], ports: [Int]) {
            self.interface = interface
            self.allowedPrefixes = allowedPrefixes
            self.ports = ports
        }
    }

    /// The backbone interface to inference workers: the appliance may open TCP connections to
    /// these prefixes and ports, and nothing else on it.
    public struct Backbone: Hashable, Sendable, Codable {
        public var interface: String
        public var workerPrefixes: [IPPrefix]
        public var ports: [Int]
        public init(interface: String, workerPrefixes: [IPPrefix], ports: [Int]) {
            self.interface = interface
            self.workerPrefixes = workerPrefixes
            self.ports = ports
        }
    }

    /// One more thing the appliance itself may send (e.g. DNS or NTP to a named server).
    public struct OutputAllowance: Hashable, Sendable, Codable {
        public var interface: String
        public var destination: IPPrefix
        public var transport: TransportProtocol
        public var port: Int
        public init(interface: String, destination: IPPrefix, transport: TransportProtocol, port: Int) {
            self.interface = interface
            self.destination = destination
            self.transport = transport
            self.port = port
        }
    }

    public var uplink: Uplink
    public var edge: Edge
    public var management: Management?
    public var backbone: Backbone?
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
