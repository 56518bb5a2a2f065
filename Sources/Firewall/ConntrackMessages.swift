import Addressing
import Netlink

/// ctnetlink messages to find and delete the connections a source address opened. Pure; `package`
/// for the fuzzer (`firewall-reply` in FuzzTargets).
///
/// Deleting by orig source alone is not a kernel operation on every kernel we support, so the
/// table is dumped for the address's family and each matching entry is deleted by its full
/// original tuple, copied verbatim from the dump.
package enum ConntrackMessages {
    /// (NFNL_SUBSYS_CTNETLINK << 8) | IPCTNL_MSG_CT_GET / _DELETE.
    static let getType: UInt16 = 0x0101
    static let deleteType: UInt16 = 0x0102
    static let newType: UInt16 = 0x0100
    package static let tupleOrig: UInt16 = 1
    static let tupleIP: UInt16 = 1
    static let zone: UInt16 = 18

    package static func family(of address: IPAddress) -> UInt8 { address.isV4 ? 2 : 10 }

    /// A dump of every connection of `address`'s family.
    static func dumpRequest(family: UInt8, sequence: UInt32) -> [UInt8] {
        var builder = NetlinkMessageBuilder(type: getType, flags: [.request, .dump], sequence: sequence)
        builder.appendFamilyHeader([family, 0, 0, 0])
        return builder.finish()
    }

    /// The original tuple (raw attribute payload) and zone of a dumped entry whose original
    /// source is `source`, or nil.
    package static func match(_ message: NetlinkMessage, source: IPAddress) -> (tuple: ArraySlice<UInt8>, zone: ArraySlice<UInt8>?)? {
        guard message.type == newType, message.payload.count >= 4,
              let attributes = try? NetlinkAttribute.parse(message.payload.dropFirst(4)),
              let tuple = attributes.first(tupleOrig),
              let ip = try? tuple.nested().first(tupleIP),
              let addresses = try? ip.nested() else { return nil }
        // CTA_IP_V4_SRC is 1, CTA_IP_V6_SRC is 3; both in network order, as IPAddress.bytes.
        guard let found = addresses.first(source.isV4 ? 1 : 3), Array(found.payload) == source.bytes else { return nil }
        return (tuple.payload, attributes.first(zone)?.payload)
    }

    /// Deletes the entry with original tuple `tuple`.
    package static func deleteRequest(family: UInt8, tuple: ArraySlice<UInt8>, zone: ArraySlice<UInt8>?, sequence: UInt32) -> [UInt8] {
        var builder = NetlinkMessageBuilder(type: deleteType, flags: [.request, .ack], sequence: sequence)
        builder.appendFamilyHeader([family, 0, 0, 0])
        builder.appendAttribute(tupleOrig | NetlinkConstants.attributeNested, tuple)
        if let zone { builder.appendAttribute(Self.zone, zone) }
        return builder.finish()
    }
}
