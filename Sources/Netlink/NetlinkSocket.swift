import CMnl

#if canImport(Glibc)
import Glibc
#endif

/// A netlink socket through libmnl: sends requests, collects replies, checks sequence numbers
/// and port ids, turns NLMSG_ERROR into ``NetlinkError`` with the kernel's extended-ACK text,
/// and restarts dumps the kernel marks as interrupted (NLM_F_DUMP_INTR).
///
/// Not thread-safe; one owner uses it at a time.
public final class NetlinkSocket: @unchecked Sendable {
    // Internal (not private) for the batch and multicast extensions in this module.
    let handle: OpaquePointer
    /// The port id the kernel assigned.
    public let portID: UInt32
    private var nextSequence: UInt32
    var receiveBuffer: [UInt8]

    /// Opens and binds a socket of `netlinkProtocol` (``NetlinkConstants/protocolGeneric``, ...).
    public init(protocol netlinkProtocol: Int32) throws(NetlinkError) {
        guard let handle = mnl_socket_open(netlinkProtocol) else {
            throw NetlinkError(operation: "opening a netlink socket", errno: errno, kernelMessage: nil, attributeOffset: nil, sequence: nil, detail: nil)
        }
        guard mnl_socket_bind(handle, 0, pid_t(MNL_SOCKET_AUTOPID)) == 0 else {
            let code = errno
            mnl_socket_close(handle)
            throw NetlinkError(operation: "binding a netlink socket", errno: code, kernelMessage: nil, attributeOffset: nil, sequence: nil, detail: nil)
        }
        var one: Int32 = 1
        // Extended ACKs carry the kernel's reason for a refusal; capped ACKs keep errors small.
        _ = mnl_socket_setsockopt(handle, Int32(NETLINK_EXT_ACK), &one, socklen_t(MemoryLayout<Int32>.size))
        _ = mnl_socket_setsockopt(handle, Int32(NETLINK_CAP_ACK), &one, socklen_t(MemoryLayout<Int32>.size))
        self.handle = handle
        portID = mnl_socket_get_portid(handle)
        nextSequence = UInt32(truncatingIfNeeded: time(nil))
        receiveBuffer = [UInt8](repeating: 0, count: 1 << 20)
    }

    deinit { mnl_socket_close(handle) }

    /// A fresh sequence number for the next request.
    public func allocateSequence() -> UInt32 {
        nextSequence &+= 1
        return nextSequence
    }

    /// Sends one request built with `sequence` and returns every reply message that is not an
    /// ACK, up to the final ACK or NLMSG_DONE.
    public func exchange(_ request: [UInt8], sequence: UInt32, operation: String) throws(NetlinkError) -> [NetlinkMessage] {
        try send(request, operation: operation)
        return try receive(sequence: sequence, operation: operation).replies
    }

    /// Sends several requests in one go and waits for each one's ACK (for multi-message changes).
    public func exchangeAll(_ requests: [(bytes: [UInt8], sequence: UInt32)], operation: String) throws(NetlinkError) {
        for request in requests {
            try send(request.bytes, operation: operation)
            _ = try receive(sequence: request.sequence, operation: operation)
        }
    }

    /// Runs a dump, restarting it (up to `attempts` times) when the kernel says the data changed
    /// while it was being dumped (NLM_F_DUMP_INTR), so a reader never acts on a torn view.
    public func dump(
        attempts: Int = 5, operation: String, _ makeRequest: (UInt32) -> [UInt8]
    ) throws(NetlinkError) -> [NetlinkMessage] {
        for _ in 0..<attempts {
            let sequence = allocateSequence()
            try send(makeRequest(sequence), operation: operation)
            let collector = try receive(sequence: sequence, operation: operation)
            if !collector.interrupted { return collector.replies }
        }
        throw NetlinkError(
            operation: operation, errno: 4, kernelMessage: nil, attributeOffset: nil, sequence: nil,
            detail: "the dump was interrupted \(attempts) times in a row (NLM_F_DUMP_INTR)"
        )
    }

    func send(_ request: [UInt8], operation: String) throws(NetlinkError) {
        let sent = request.withUnsafeBytes { mnl_socket_sendto(handle, $0.baseAddress, $0.count) }
        guard sent == request.count else {
            throw NetlinkError(operation: operation, errno: errno, kernelMessage: nil, attributeOffset: nil, sequence: nil, detail: "sendto")
        }
    }

    private func receive(sequence: UInt32, operation: String) throws(NetlinkError) -> ReplyCollector {
        var collector = ReplyCollector(sequence: sequence, portID: portID, operation: operation)
        while true {
            var received: Int
            repeat {
                received = receiveBuffer.withUnsafeMutableBytes { mnl_socket_recvfrom(handle, $0.baseAddress, $0.count) }
            } while received < 0 && errno == EINTR
            guard received >= 0 else {
                throw NetlinkError(operation: operation, errno: errno, kernelMessage: nil, attributeOffset: nil, sequence: sequence, detail: "recvfrom")
            }
            for message in try NetlinkMessage.parseAll(Array(receiveBuffer[0..<received])) {
                if try collector.consume(message) { return collector }
            }
        }
    }
}
