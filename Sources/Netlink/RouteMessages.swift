import Addressing

/// rtnetlink requests for the links and addresses popnetd manages (linux/rtnetlink.h,
/// linux/if_link.h), as pure builders.
public enum RouteMessages {
    static let newLink: UInt16 = 16, deleteLink: UInt16 = 17, getLink: UInt16 = 18
    static let newAddress: UInt16 = 20
    static let ifnameAttribute: UInt16 = 3, mtuAttribute: UInt16 = 4, linkInfoAttribute: UInt16 = 18
    static let infoKindAttribute: UInt16 = 1
    static let addressAttribute: UInt16 = 1, localAttribute: UInt16 = 2
    static let interfaceUp: UInt32 = 1

    /// `struct ifinfomsg`.
    static func ifinfo(index: Int32 = 0, flags: UInt32 = 0, change: UInt32 = 0) -> [UInt8] {
        [0, 0, 0, 0] + NetlinkMessageBuilder.le(index) + NetlinkMessageBuilder.le(flags) + NetlinkMessageBuilder.le(change)
    }

    /// RTM_NEWLINK creating a link of `kind` (e.g. "wireguard") named `name`.
    public static func createLink(name: String, kind: String, sequence: UInt32) -> [UInt8] {
        var builder = NetlinkMessageBuilder(type: newLink, flags: [.request, .ack, .create, .exclusive], sequence: sequence)
        builder.appendFamilyHeader(ifinfo())
        builder.appendAttribute(ifnameAttribute, string: name)
        builder.beginNested(linkInfoAttribute)
        builder.appendAttribute(infoKindAttribute, string: kind)
        builder.endNested()
        return builder.finish()
    }

    /// RTM_DELLINK of the link named `name`.
    public static func deleteLink(name: String, sequence: UInt32) -> [UInt8] {
        var builder = NetlinkMessageBuilder(type: deleteLink, flags: [.request, .ack], sequence: sequence)
        builder.appendFamilyHeader(ifinfo())
        builder.appendAttribute(ifnameAttribute, string: name)
        return builder.finish()
    }

    /// RTM_NEWLINK setting MTU and IFF_UP on an existing link.
    public static func setUp(index: Int32, mtu: Int, sequence: UInt32) -> [UInt8] {
        var builder = NetlinkMessageBuilder(type: newLink, flags: [.request, .ack], sequence: sequence)
        builder.appendFamilyHeader(ifinfo(index: index, flags: interfaceUp, change: interfaceUp))
        builder.appendAttribute(mtuAttribute, u32: UInt32(mtu))
        return builder.finish()
    }

    /// RTM_NEWADDR putting `prefix` (host address and prefix length) on the link, replacing
    /// an identical one.
    public static func addAddress(_ prefix: IPPrefix, index: Int32, sequence: UInt32) -> [UInt8] {
        var builder = NetlinkMessageBuilder(type: newAddress, flags: [.request, .ack, .create, .replace], sequence: sequence)
        let family: UInt8 = prefix.address.isV4 ? 2 : 10
        builder.appendFamilyHeader([family, UInt8(prefix.length), 0, 0] + NetlinkMessageBuilder.le(UInt32(bitPattern: index)))
        builder.appendAttribute(localAttribute, prefix.address.bytes)
        builder.appendAttribute(addressAttribute, prefix.address.bytes)
        return builder.finish()
    }
}
