/// Message types, flags and attribute bits from linux/netlink.h and linux/genetlink.h.
///
/// Spelled out here (rather than imported from the C headers) so the pure encoder and decoder
/// compile and test without libmnl; the values are part of the kernel's stable ABI.
public enum NetlinkConstants {
    /// `struct nlmsghdr` is 16 bytes.
    public static let headerLength = 16
    /// `struct genlmsghdr` is 4 bytes.
    public static let genericHeaderLength = 4

    public static let noop: UInt16 = 1
    public static let error: UInt16 = 2
    public static let done: UInt16 = 3
    public static let overrun: UInt16 = 4

    /// The generic netlink controller's message type.
    public static let genericControllerID: UInt16 = 0x10
    public static let ctrlCommandGetFamily: UInt8 = 3
    public static let ctrlAttributeFamilyID: UInt16 = 1
    public static let ctrlAttributeFamilyName: UInt16 = 2

    /// `NLA_F_NESTED`: the attribute holds attributes.
    public static let attributeNested: UInt16 = 0x8000
    /// `NLA_F_NET_BYTEORDER`.
    public static let attributeNetworkByteOrder: UInt16 = 0x4000
    /// Mask of the type bits of `nla_type`.
    public static let attributeTypeMask: UInt16 = 0x3fff

    /// `NLMSGERR_ATTR_MSG`, `NLMSGERR_ATTR_OFFS`.
    public static let extendedAckMessage: UInt16 = 1
    public static let extendedAckOffset: UInt16 = 2

    /// `NETLINK_GENERIC`, `NETLINK_ROUTE`.
    public static let protocolGeneric: Int32 = 16
    public static let protocolRoute: Int32 = 0
}

/// `nlmsg_flags`.
public struct NetlinkFlags: OptionSet, Sendable, Hashable {
    public let rawValue: UInt16
    public init(rawValue: UInt16) { self.rawValue = rawValue }

    public static let request = NetlinkFlags(rawValue: 0x01)
    public static let multi = NetlinkFlags(rawValue: 0x02)
    public static let ack = NetlinkFlags(rawValue: 0x04)
    public static let echo = NetlinkFlags(rawValue: 0x08)
    public static let dumpInterrupted = NetlinkFlags(rawValue: 0x10)
    public static let root = NetlinkFlags(rawValue: 0x100)
    public static let match = NetlinkFlags(rawValue: 0x200)
    public static let dump: NetlinkFlags = [.root, .match]
    public static let replace = NetlinkFlags(rawValue: 0x100)
    public static let exclusive = NetlinkFlags(rawValue: 0x200)
    public static let create = NetlinkFlags(rawValue: 0x400)
    /// On an error message: the extended ACK attributes follow.
    public static let ackTLVs = NetlinkFlags(rawValue: 0x200)
    /// On an error message: the original request was not echoed in full.
    public static let capped = NetlinkFlags(rawValue: 0x100)
}
