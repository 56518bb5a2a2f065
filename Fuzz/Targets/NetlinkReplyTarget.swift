import Netlink
import WireGuard

/// Netlink datagrams as popnetd receives them from the kernel (``NetlinkMessage``,
/// ``NetlinkAttribute``, ``ReplyCollector``) and the WireGuard generic-netlink device dump read
/// from them (``KernelWireGuardProtocol/parseDevice(_:)``): foreign bytes, to be read or refused.
enum NetlinkReplyTarget {
    static let target = FuzzTarget(
        name: "netlink-reply", summary: "netlink datagrams: messages, attributes, errors, the WireGuard device dump",
        run: run
    )

    static func run(_ data: UnsafeRawBufferPointer) {
        guard let messages = try? NetlinkMessage.parseAll(Array(data)) else { return }
        if let first = messages.first {
            var collector = ReplyCollector(sequence: first.sequence, portID: first.portID, operation: "fuzz")
            for message in messages {
                guard let done = try? collector.consume(message), !done else { break }
            }
        }
        for message in messages {
            _ = try? message.errorReply(operation: "fuzz")
            _ = try? GenericFamily.familyID(in: message)
            if let (_, attributes) = try? message.genericAttributes() { walk(attributes, depth: 0) }
        }
        _ = try? KernelWireGuardProtocol.parseDevice(messages)
    }

    /// Reads every attribute every way a reader might, nested ones included (to a bounded depth).
    private static func walk(_ attributes: [NetlinkAttribute], depth: Int) {
        for attribute in attributes {
            _ = try? attribute.u8()
            _ = try? attribute.u16()
            _ = try? attribute.u32()
            _ = try? attribute.u64()
            _ = attribute.string()
            if depth < 4, let nested = try? attribute.nested() { walk(nested, depth: depth + 1) }
        }
    }
}
