/// One received netlink message.
public struct NetlinkMessage: Sendable {
    /// `nlmsg_type`.
    public let type: UInt16
    /// `nlmsg_flags`.
    public let flags: NetlinkFlags
    /// `nlmsg_seq`.
    public let sequence: UInt32
    /// `nlmsg_pid`.
    public let portID: UInt32
    /// Everything after the 16-byte header.
    public let payload: ArraySlice<UInt8>

    /// Splits a datagram into its messages; throws when a length does not fit.
    public static func parseAll(_ datagram: [UInt8]) throws(NetlinkError) -> [NetlinkMessage] {
        var out: [NetlinkMessage] = []
        var offset = 0
        let bytes = datagram[...]
        while datagram.count - offset >= NetlinkConstants.headerLength {
            let length = Int(readLE(UInt32.self, bytes, offset))
            guard length >= NetlinkConstants.headerLength, offset + length <= datagram.count else {
                throw NetlinkError.malformed("a message claims \(length) bytes but \(datagram.count - offset) remain")
            }
            out.append(NetlinkMessage(
                type: readLE(UInt16.self, bytes, offset + 4),
                flags: NetlinkFlags(rawValue: readLE(UInt16.self, bytes, offset + 6)),
                sequence: readLE(UInt32.self, bytes, offset + 8),
                portID: readLE(UInt32.self, bytes, offset + 12),
                payload: bytes[(offset + NetlinkConstants.headerLength)..<(offset + length)]
            ))
            offset += (length + 3) & ~3
        }
        guard offset >= datagram.count || datagram.count - offset < NetlinkConstants.headerLength else {
            throw NetlinkError.malformed("trailing bytes after the last message")
        }
        if offset < datagram.count && datagram[offset...].contains(where: { $0 != 0 }) {
            throw NetlinkError.malformed("\(datagram.count - offset) trailing bytes after the last message")
        }
        return out
    }

    /// For `NLMSG_ERROR`: nil when it is an ACK (error 0), else the error with extended-ACK text.
    public func errorReply(operation: String) throws(NetlinkError) -> NetlinkError? {
        guard type == NetlinkConstants.error else { return nil }
        guard payload.count >= 4 + NetlinkConstants.headerLength else {
            throw NetlinkError.malformed("an error message of \(payload.count) bytes is too short")
        }
        let code = Int32(bitPattern: readLE(UInt32.self, payload, payload.startIndex))
        guard code != 0 else { return nil }
        // The kernel sends a negative errno; this one has no negation (and negating it would trap).
        guard code != .min else { throw NetlinkError.malformed("an error message with code \(code) is not an errno") }
        var error = NetlinkError(
            operation: operation, errno: -code, kernelMessage: nil, attributeOffset: nil, sequence: sequence, detail: nil
        )
        if flags.contains(.ackTLVs) {
            // Without NLM_F_CAPPED the whole request is echoed before the TLVs.
            let echoedLength = Int(readLE(UInt32.self, payload, payload.startIndex + 4))
            let tlvStart = payload.startIndex + 4 + (flags.contains(.capped) ? NetlinkConstants.headerLength : ((echoedLength + 3) & ~3))
            if tlvStart <= payload.endIndex, let attributes = try? NetlinkAttribute.parse(payload[tlvStart...]) {
                error.kernelMessage = attributes.first(NetlinkConstants.extendedAckMessage)?.string()
                error.attributeOffset = try? attributes.first(NetlinkConstants.extendedAckOffset)?.u32()
            }
        }
        return error
    }

    /// The payload after a generic netlink header, parsed as attributes.
    public func genericAttributes() throws(NetlinkError) -> (command: UInt8, attributes: [NetlinkAttribute]) {
        guard payload.count >= NetlinkConstants.genericHeaderLength else {
            throw NetlinkError.malformed("a generic netlink message of \(payload.count) bytes has no genlmsghdr")
        }
        let command = payload[payload.startIndex]
        return (command, try NetlinkAttribute.parse(payload.dropFirst(NetlinkConstants.genericHeaderLength)))
    }
}
