import Addressing

/// One allow rule: all matches must hold, then the packet is accepted.
///
/// Each match renders both ways — to nft syntax for `nftables/popgate.nft` and to the
/// expressions `nft` itself would generate for that syntax — so the boot file and what popgate
/// installs are the same rules, byte for byte.
public struct RuleSpec: Hashable, Sendable {
    /// What a rule can match.
    public enum Match: Hashable, Sendable {
        case inputInterface(String)
        case outputInterface(String)
        case establishedOrRelated
        case sourcePrefix(IPPrefix)
        case destinationPrefix(IPPrefix)
        /// The source address is in a named set; `ipv6` picks `ip6 saddr`.
        case sourceInSet(String, ipv6: Bool)
        case transport(TransportProtocol, sourcePort: UInt16?, destinationPort: UInt16?)
        /// ICMPv6 neighbour discovery, which IPv6 needs on every link.
        case icmpv6Type(UInt8)
    }

    /// The matches, in the order nft would write them.
    public var matches: [Match]

    /// A rule of `matches` ending in accept.
    public init(_ matches: [Match]) { self.matches = matches }

    /// The rule's expressions, accept verdict last.
    public var expressions: [NftExpression] { matches.flatMap(Self.expressions(for:)) + [.accept] }

    /// The rule in nft syntax.
    public var nftText: String { (matches.map(Self.nftText(for:)) + ["accept"]).joined(separator: " ") }

    static func expressions(for match: Match) -> [NftExpression] {
        switch match {
        case .inputInterface(let name): [.meta(.iifname), .compare(.equal, interfaceBytes(name))]
        case .outputInterface(let name): [.meta(.oifname), .compare(.equal, interfaceBytes(name))]
        case .establishedOrRelated:
            // IP_CT_ESTABLISHED and IP_CT_RELATED as ct state bits (1 << 1 | 1 << 2).
            [.ctState, .bitwise(mask: [6, 0, 0, 0], xor: [0, 0, 0, 0]), .compare(.notEqual, [0, 0, 0, 0])]
        case .sourcePrefix(let prefix): prefixMatch(prefix, source: true)
        case .destinationPrefix(let prefix): prefixMatch(prefix, source: false)
        case .sourceInSet(let name, let ipv6):
            [.meta(.nfproto), .compare(.equal, [ipv6 ? 10 : 2]),
             .payload(.network, offset: ipv6 ? 8 : 12, length: ipv6 ? 16 : 4), .lookup(set: name)]
        case .transport(let proto, let sourcePort, let destinationPort):
            [.meta(.l4proto), .compare(.equal, [proto.number])]
                + (sourcePort.map { [.payload(.transport, offset: 0, length: 2), .compare(.equal, bigEndian($0))] } ?? [])
                + (destinationPort.map { [.payload(.transport, offset: 2, length: 2), .compare(.equal, bigEndian($0))] } ?? [])
        case .icmpv6Type(let type):
            [.meta(.nfproto), .compare(.equal, [10]), .meta(.l4proto), .compare(.equal, [58]),
             .payload(.transport, offset: 0, length: 1), .compare(.equal, [type])]
        }
    }

    /// As nft generates it: a byte-aligned prefix loads only its bytes; any other prefix loads
    /// the whole address and masks it.
    static func prefixMatch(_ prefix: IPPrefix, source: Bool) -> [NftExpression] {
        let v6 = !prefix.address.isV4
        let width = v6 ? 16 : 4
        let offset: UInt32 = v6 ? (source ? 8 : 24) : (source ? 12 : 16)
        let network = prefix.network.bytes
        let head: [NftExpression] = [.meta(.nfproto), .compare(.equal, [v6 ? 10 : 2])]
        if prefix.length % 8 == 0 {
            let count = prefix.length / 8
            return head + [.payload(.network, offset: offset, length: UInt32(count)), .compare(.equal, Array(network[0..<count]))]
        }
        var mask = [UInt8](repeating: 0, count: width)
        for bit in 0..<prefix.length { mask[bit / 8] |= 0x80 >> UInt8(bit % 8) }
        return head + [
            .payload(.network, offset: offset, length: UInt32(width)),
            .bitwise(mask: mask, xor: [UInt8](repeating: 0, count: width)),
            .compare(.equal, network),
        ]
    }

    static func nftText(for match: Match) -> String {
        switch match {
        case .inputInterface(let name): "iifname \"\(name)\""
        case .outputInterface(let name): "oifname \"\(name)\""
        case .establishedOrRelated: "ct state established,related"
        case .sourcePrefix(let prefix): "\(prefix.address.isV4 ? "ip" : "ip6") saddr \(prefixText(prefix))"
        case .destinationPrefix(let prefix): "\(prefix.address.isV4 ? "ip" : "ip6") daddr \(prefixText(prefix))"
        case .sourceInSet(let name, let ipv6): "\(ipv6 ? "ip6" : "ip") saddr @\(name)"
        case .transport(let proto, let sourcePort, let destinationPort):
            [sourcePort.map { "\(proto.rawValue) sport \($0)" }, destinationPort.map { "\(proto.rawValue) dport \($0)" }]
                .compactMap { $0 }.joined(separator: " ")
        case .icmpv6Type(let type): "icmpv6 type \(icmpv6Names[type] ?? String(type))"
        }
    }

    static let icmpv6Names: [UInt8: String] = [135: "nd-neighbor-solicit", 136: "nd-neighbor-advert"]

    static func prefixText(_ prefix: IPPrefix) -> String {
        prefix.length == prefix.address.bitWidth ? "\(prefix.network)" : "\(prefix.network)/\(prefix.length)"
    }

    /// The kernel compares interface names as IFNAMSIZ (16) bytes, NUL padded.
    static func interfaceBytes(_ name: String) -> [UInt8] {
        let bytes = Array(name.utf8.prefix(15))
        return bytes + [UInt8](repeating: 0, count: 16 - bytes.count)
    }

    static func bigEndian(_ port: UInt16) -> [UInt8] { [UInt8(port >> 8), UInt8(port & 0xff)] }
}
