import Addressing
import Firewall
import Netlink

/// The kernel's netfilter messages that popnetd reads in Swift: nftables change events
/// (``FirewallEvent``) and conntrack dumps searched for a revoked peer's connections
/// (``ConntrackMessages``), cut from any datagram.
///
/// The nftables dumps themselves are read by libnftnl (``TableReplies``), which ends the process
/// (`exit(1)`, "nf_tables kernel ABI is broken") on an attribute of the wrong size: it trusts the
/// kernel, and a fuzzer cannot run past an exit. Those readers are checked on a real kernel's
/// replies instead (`CapturedFirewallSeedsTests`).
enum FirewallReplyTarget {
    static let target = FuzzTarget(
        name: "firewall-reply", summary: "nftables change events and conntrack dumps, as popnetd reads them",
        run: run
    )

    /// The sources a conntrack flush would look for: one of each family, as in the captured seeds.
    static let sources = [IPAddress("127.0.0.1")!, IPAddress("::1")!, IPAddress("10.77.0.2")!]

    static func run(_ data: UnsafeRawBufferPointer) {
        guard let messages = try? NetlinkMessage.parseAll(Array(data)) else { return }
        for message in messages {
            _ = FirewallEvent.parse(message)?.description
            for source in sources {
                guard let (tuple, zone) = ConntrackMessages.match(message, source: source) else { continue }
                checkDeleteRequest(tuple: tuple, zone: zone, family: ConntrackMessages.family(of: source))
            }
        }
    }

    /// The delete request for a matched entry carries its tuple verbatim: the kernel deletes by it.
    private static func checkDeleteRequest(tuple: ArraySlice<UInt8>, zone: ArraySlice<UInt8>?, family: UInt8) {
        let request = ConntrackMessages.deleteRequest(family: family, tuple: tuple, zone: zone, sequence: 1)
        let parsed = try? NetlinkMessage.parseAll(request)
        FuzzCheck.require(parsed?.count == 1, "a conntrack delete request does not parse back as one message")
        guard let message = parsed?.first,
              let attributes = try? NetlinkAttribute.parse(message.payload.dropFirst(4)) else {
            return FuzzCheck.require(false, "a conntrack delete request's attributes do not parse back")
        }
        FuzzCheck.require(Array(attributes.first(ConntrackMessages.tupleOrig)?.payload ?? []) == Array(tuple),
                          "a conntrack delete request does not carry the dumped tuple verbatim")
    }
}
