import CMnl
import CNftnl
import Netlink

// Glue between our Netlink module's parsed messages and libnftnl's parsers, which want a
// whole `struct nlmsghdr`.

/// The NETLINK_NETFILTER protocol number.
let netfilterProtocol: Int32 = 12

/// Rebuilds the raw bytes of `message` and passes its header to `body`.
func withNetlinkHeader<T>(_ message: NetlinkMessage, _ body: (UnsafePointer<nlmsghdr>) -> T) -> T {
    var raw: [UInt8] = []
    raw.reserveCapacity(16 + message.payload.count + 4)
    func put<I: FixedWidthInteger>(_ value: I) { withUnsafeBytes(of: value.littleEndian) { raw.append(contentsOf: $0) } }
    put(UInt32(16 + message.payload.count))
    put(message.type)
    put(message.flags.rawValue)
    put(message.sequence)
    put(message.portID)
    raw.append(contentsOf: message.payload)
    while raw.count % 4 != 0 { raw.append(0) }
    return raw.withUnsafeBytes { body($0.baseAddress!.assumingMemoryBound(to: nlmsghdr.self)) }
}

/// Builds one nftables request (a get or dump) whose payload `fill` writes.
func nftablesRequest(
    _ type: nf_tables_msg_types, flags: Int32, sequence: UInt32, fill: (UnsafeMutablePointer<nlmsghdr>) -> Void
) -> [UInt8] {
    var buffer = [UInt8](repeating: 0, count: 8192)
    let length = buffer.withUnsafeMutableBytes { raw -> Int in
        let header = nftnl_nlmsg_build_hdr(
            raw.baseAddress!.assumingMemoryBound(to: CChar.self), UInt16(type.rawValue), TableSpec.family, UInt16(flags), sequence
        )!
        fill(header)
        return Int(header.pointee.nlmsg_len)
    }
    return Array(buffer[0..<length])
}
