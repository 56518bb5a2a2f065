/// The nftables objects a policy renders to: one table with base chains and address sets.
/// Pure data; ``NftnlBatch`` turns it into netlink messages and ``nftScript`` into nft syntax.
public struct TableSpec: Hashable, Sendable {
    /// A base chain with a drop policy.
    public struct Chain: Hashable, Sendable {
        /// The chain's name (`input`, `forward`, `output`).
        public var name: String
        /// NF_INET_LOCAL_IN (1), NF_INET_FORWARD (2), NF_INET_LOCAL_OUT (3).
        public var hook: UInt32
        /// `priority filter` is 0.
        public var priority: Int32
        /// Allow rules, in order.
        public var rules: [RuleSpec]
    }

    /// A plain hash set of single addresses (no interval flag: a change costs one element).
    public struct AddressSet: Hashable, Sendable {
        /// The set's name.
        public var name: String
        /// True for the IPv6 set.
        public var ipv6: Bool
        /// nft's datatype ids: ipv4_addr is 7, ipv6_addr is 8 (so `nft list` shows the type).
        public var keyType: UInt32 { ipv6 ? 8 : 7 }
        /// Key bytes.
        public var keyLength: UInt32 { ipv6 ? 16 : 4 }
    }

    /// The table's family is always inet (NFPROTO_INET = 1): one policy for IPv4 and IPv6.
    public static let family: UInt16 = 1
    /// The table's name.
    public var name: String
    /// Base chains, all with policy drop.
    public var chains: [Chain]
    /// Peer address sets.
    public var sets: [AddressSet]

    /// The set holding the addresses of one family.
    public func peerSet(ipv6: Bool) -> AddressSet? { sets.first { $0.ipv6 == ipv6 } }
}
