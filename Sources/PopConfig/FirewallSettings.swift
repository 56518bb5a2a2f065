import Addressing

/// The `[firewall]` section: what popnetd's nftables policy (table `inet popgate`) lets through
/// besides WireGuard on the uplink and the API on the edge tunnel, whose ports come from
/// `[wireguard]` and `[gateway]`, and the backends, whose addresses and ports come from `[[backends]]`.
///
/// Plain values only: this module is also the gateway's, which must not depend on nftables.
public struct FirewallSettings: Sendable, Equatable {
    /// Operator access on a management interface: who may reach which TCP ports.
    public struct Management: Sendable, Equatable {
        public var interface: String
        /// Networks allowed in (network addresses, no host bits).
        public var prefixes: [IPPrefix]
        /// TCP ports they may reach (ssh, metrics).
        public var ports: [Int]

        public init(interface: String, prefixes: [IPPrefix], ports: [Int]) {
            self.interface = interface
            self.prefixes = prefixes
            self.ports = ports
        }
    }

    /// Where WireGuard clients arrive.
    public var uplinkInterface: String
    /// Where the inference workers are: the node may open connections to the `[[backends]]`'
    /// addresses and ports on it, and to nothing else.
    public var backboneInterface: String
    /// Operator access; nil closes management entirely.
    public var management: Management?
    /// How often popnetd reads the table back even without a change notification.
    public var verifyIntervalSeconds: Int

    public init(uplinkInterface: String, backboneInterface: String, management: Management?, verifyIntervalSeconds: Int) {
        self.uplinkInterface = uplinkInterface
        self.backboneInterface = backboneInterface
        self.management = management
        self.verifyIntervalSeconds = verifyIntervalSeconds
    }
}

/// Whether popnetd owns the node's nftables policy.
public enum FirewallChoice: Sendable, Equatable {
    /// No `[firewall]` section: popnetd refuses to start until one says what it should do.
    case unconfigured
    /// `enabled = false`: nftables is left to someone else.
    case disabled
    /// popnetd installs and keeps the policy.
    case enabled(FirewallSettings)
}
