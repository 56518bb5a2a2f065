/// A netlink failure: what was attempted, on what, errno, and the kernel's own explanation
/// (extended ACK) when it sent one.
public struct NetlinkError: Error, CustomStringConvertible, Sendable, Equatable {
    /// What was attempted, e.g. "WG_CMD_SET_DEVICE on wg-edge".
    public var operation: String
    /// The positive errno, or nil for a malformed message.
    public var errno: Int32?
    /// The kernel's extended-ACK message.
    public var kernelMessage: String?
    /// The offset of the offending attribute in our request, when the kernel said.
    public var attributeOffset: UInt32?
    /// The sequence number of the request.
    public var sequence: UInt32?
    /// A description for malformed data.
    public var detail: String?

    /// A reply or message that does not parse.
    public static func malformed(_ detail: String) -> NetlinkError {
        NetlinkError(operation: "decoding a netlink message", errno: nil, kernelMessage: nil, attributeOffset: nil, sequence: nil, detail: detail)
    }

    public var description: String {
        var text = operation
        if let errno { text += " failed: \(NetlinkError.errnoName(errno)) (errno \(errno))" } else { text += " failed" }
        if let kernelMessage, !kernelMessage.isEmpty { text += ": kernel says \"\(kernelMessage)\"" }
        if let attributeOffset { text += " (attribute at offset \(attributeOffset))" }
        if let detail { text += ": \(detail)" }
        if let sequence { text += " [seq \(sequence)]" }
        if errno == 1 { text += "; popnetd needs CAP_NET_ADMIN (run it as root)" }
        if errno == 19 { text += "; the interface does not exist" }
        return text
    }

    static func errnoName(_ code: Int32) -> String {
        switch code {
        case 1: "EPERM"
        case 2: "ENOENT"
        case 12: "ENOMEM"
        case 16: "EBUSY"
        case 17: "EEXIST"
        case 19: "ENODEV"
        case 22: "EINVAL"
        case 34: "ERANGE"
        case 95: "EOPNOTSUPP"
        case 105: "ENOBUFS"
        case 110: "ETIMEDOUT"
        default: "error"
        }
    }
}
