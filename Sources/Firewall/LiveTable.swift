import Addressing

/// What the kernel holds for popgate's table, read back over netlink: chains with their
/// rules (as libnftnl prints each expression), sets with their elements.
public struct LiveTable: Hashable, Sendable {
    /// A chain as read back.
    public struct Chain: Hashable, Sendable {
        public var name: String
        public var type: String?
        public var hook: UInt32?
        public var priority: Int32?
        /// NF_DROP is 0, NF_ACCEPT is 1.
        public var policy: UInt32?
        /// Each rule's expressions, in order.
        public var rules: [[String]]
    }

    /// A set as read back.
    public struct AddressSet: Hashable, Sendable {
        public var name: String
        public var keyType: UInt32
        public var keyLength: UInt32
        public var flags: UInt32
        public var elements: Set<IPAddress>
    }

    public var chains: [String: Chain]
    public var sets: [String: AddressSet]

    /// Every element of both peer sets.
    public var peerAddresses: Set<IPAddress> {
        sets.values.reduce(into: Set<IPAddress>()) { $0.formUnion($1.elements) }
    }
}
