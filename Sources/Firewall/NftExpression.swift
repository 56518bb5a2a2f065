/// One nftables expression as popgate uses it: every load goes to register 1 and every rule
/// ends in an accept verdict, which is all a closed allow-list needs.
///
/// Pure. `description` is libnftnl's own debug text (`nft --debug=netlink`), so the rendering
/// is tested against the real tool's output and the drift check compares the kernel's rules,
/// printed by libnftnl, with the intended ones as text.
public enum NftExpression: Hashable, Sendable, CustomStringConvertible {
    /// `meta load KEY => reg 1`.
    case meta(MetaKey)
    /// `cmp OP reg 1 DATA`.
    case compare(CompareOperator, [UInt8])
    /// `payload load LEN @ BASE header + OFFSET => reg 1`.
    case payload(PayloadBase, offset: UInt32, length: UInt32)
    /// `bitwise reg 1 = (reg 1 & MASK) ^ XOR`.
    case bitwise(mask: [UInt8], xor: [UInt8])
    /// `lookup reg 1 set NAME`.
    case lookup(set: String)
    /// `ct load state => reg 1`.
    case ctState
    /// `immediate reg 0 accept`.
    case accept

    /// The `meta` keys popgate matches on, with their NFT_META_* numbers.
    public enum MetaKey: UInt32, Hashable, Sendable {
        case iifname = 6, oifname = 7, nfproto = 15, l4proto = 16
        var name: String {
            switch self {
            case .iifname: "iifname"
            case .oifname: "oifname"
            case .nfproto: "nfproto"
            case .l4proto: "l4proto"
            }
        }
    }

    /// NFT_CMP_EQ / NFT_CMP_NEQ.
    public enum CompareOperator: UInt32, Hashable, Sendable {
        case equal = 0, notEqual = 1
    }

    /// NFT_PAYLOAD_NETWORK_HEADER / NFT_PAYLOAD_TRANSPORT_HEADER.
    public enum PayloadBase: UInt32, Hashable, Sendable {
        case network = 1, transport = 2
    }

    /// The expression's libnftnl name ("meta", "cmp", ...).
    public var name: String {
        switch self {
        case .meta: "meta"
        case .compare: "cmp"
        case .payload: "payload"
        case .bitwise: "bitwise"
        case .lookup: "lookup"
        case .ctState: "ct"
        case .accept: "immediate"
        }
    }

    public var description: String {
        switch self {
        case .meta(let key): "[ meta load \(key.name) => reg 1 ]"
        case .compare(let op, let data): "[ cmp \(op == .equal ? "eq" : "neq") reg 1 \(Self.words(data))]"
        case .payload(let base, let offset, let length):
            "[ payload load \(length)b @ \(base == .network ? "network" : "transport") header + \(offset) => reg 1 ]"
        case .bitwise(let mask, let xor): "[ bitwise reg 1 = ( reg 1 & \(Self.words(mask))) ^ \(Self.words(xor))]"
        case .lookup(let set): "[ lookup reg 1 set \(set) 0x0 ]"  // flags 0, as the kernel reports them
        case .ctState: "[ ct load state => reg 1 ]"
        case .accept: "[ immediate reg 0 accept ]"
        }
    }

    /// Register data as libnftnl prints it: 32-bit host-order words, each followed by a space.
    static func words(_ data: [UInt8]) -> String {
        var text = ""
        var index = 0
        while index < data.count {
            var word: UInt32 = 0
            for byte in 0..<4 where index + byte < data.count {
                word |= UInt32(data[index + byte]) << (8 * byte)
            }
            let hex = String(word, radix: 16)
            text += "0x" + String(repeating: "0", count: 8 - hex.count) + hex + " "
            index += 4
        }
        return text
    }
}
