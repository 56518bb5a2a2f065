import Addressing

/// What the kernel holds for popgate's table, read back over netlink: chains with their
/// rules (as libnftnl prints each expression), sets with their elements.
public struct LiveTable: Hashable, Sendable {
    /// A chain as read back.
    public struct Chain: Hashable, Sendable {
        /// The chain's name.
        public var name: String
        /// `filter` for popgate's chains; nil for a regular chain.
        public var type: String?
        /// NF_INET_* hook number; nil for a regular chain.
        public var hook: UInt32?
        /// The hook priority.
        public var priority: Int32?
        /// NF_DROP is 0, NF_ACCEPT is 1.
        public var policy: UInt32?
        /// Each rule's expressions, in order.
        public var rules: [[String]]
    }

    /// A set as read back.
    public struct AddressSet: Hashable, Sendable {
        /// The set's name.
        public var name: String
        /// nft's datatype id of the key (7 ipv4_addr, 8 ipv6_addr).
        public var keyType: UInt32
        /// Key bytes.
        public var keyLength: UInt32
        /// NFT_SET_* flags; 0 for a plain hash set.
        public var flags: UInt32
        /// The addresses in the set.
        public var elements: Set<IPAddress>
    }

    /// Chains by name.
    public var chains: [String: Chain]
    /// Sets by name.
    public var sets: [String: AddressSet]

    /// Every element of both peer sets.
    public var peerAddresses: Set<IPAddress> {
        sets.values.reduce(into: Set<IPAddress>()) { $0.formUnion($1.elements) }
    }
}
