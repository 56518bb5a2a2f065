/// Collects the replies to one request as they arrive: skips stale messages, turns NLMSG_ERROR
/// into ``NetlinkError``, notes NLM_F_DUMP_INTR, and says when the exchange is over.
///
/// Pure, so the socket's receive loop is tested on captured kernel replies.
public struct ReplyCollector: Sendable {
    /// The request's sequence number.
    public let sequence: UInt32
    /// Our socket's port id (replies from the kernel carry it, or 0).
    public let portID: UInt32
    /// What was attempted, for errors.
    public let operation: String
    /// The data messages so far.
    public private(set) var replies: [NetlinkMessage] = []
    /// True when the kernel marked any part of a dump as inconsistent.
    public private(set) var interrupted = false

    /// Starts collecting replies to request `sequence`.
    public init(sequence: UInt32, portID: UInt32, operation: String) {
        self.sequence = sequence
        self.portID = portID
        self.operation = operation
    }

    /// Takes one received message; returns true when the exchange is complete (ACK or DONE).
    public mutating func consume(_ message: NetlinkMessage) throws(NetlinkError) -> Bool {
        guard message.sequence == sequence, message.portID == portID || message.portID == 0 else {
            return false  // a stale reply to an earlier, abandoned request
        }
        if message.flags.contains(.dumpInterrupted) { interrupted = true }
        switch message.type {
        case NetlinkConstants.error:
            if let error = try message.errorReply(operation: operation) { throw error }
            return true
        case NetlinkConstants.done:
            return true
        case NetlinkConstants.noop:
            return false
        default:
            replies.append(message)
            return false
        }
    }
}
