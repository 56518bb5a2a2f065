import Netlink

/// One nftables change notification (NFNLGRP_NFTABLES) that concerns an inet table.
///
/// Pure parsing, so it is tested on hand-made messages; ``FirewallMonitor`` feeds it.
public struct FirewallEvent: Hashable, Sendable, CustomStringConvertible {
    /// NFT_MSG_* (NEWRULE, DELTABLE, ...).
    public var messageType: UInt8
    /// The table the change was made in.
    public var table: String
    /// NFPROTO_* of the table.
    public var family: UInt8

    /// "delete rule", "add element", ...
    public var action: String {
        let names: [UInt8: String] = [
            0: "add table", 2: "delete table", 3: "add chain", 5: "delete chain", 6: "add rule", 8: "delete rule",
            9: "add set", 11: "delete set", 12: "add element", 14: "delete element",
            24: "destroy table", 25: "destroy chain", 26: "destroy rule", 27: "destroy set", 28: "destroy element",
        ]
        return names[messageType] ?? "nftables message \(messageType)"
    }

    /// True for deletions: something popgate installed may be gone.
    public var isRemoval: Bool { [2, 5, 8, 11, 14, 24, 25, 26, 27, 28].contains(messageType) }

    public var description: String { "\(action) in table \(family == 1 ? "inet" : "family \(family)") \(table)" }

    /// NFNL_SUBSYS_NFTABLES.
    static let subsystem: UInt16 = 10

    /// The event in `message`, or nil when it is not an nftables object change (e.g. NEWGEN).
    public static func parse(_ message: NetlinkMessage) -> FirewallEvent? {
        guard message.type >> 8 == subsystem, message.payload.count >= 4 else { return nil }
        let type = UInt8(message.type & 0xff)
        guard type != 15, type != 16 else { return nil }  // NEWGEN, GETGEN: a commit marker
        let family = message.payload[message.payload.startIndex]
        // NFTA_TABLE_NAME, NFTA_CHAIN_TABLE, NFTA_RULE_TABLE, NFTA_SET_TABLE and
        // NFTA_SET_ELEM_LIST_TABLE are all attribute 1.
        guard let attributes = try? NetlinkAttribute.parse(message.payload.dropFirst(4)),
              let table = attributes.first(1)?.string() else { return nil }
        return FirewallEvent(messageType: type, table: table, family: family)
    }
}
