import CMnl

#if canImport(Glibc)
import Glibc
#endif

// nfnetlink batches and multicast notifications: what the nftables firewall needs beyond
// request/reply. Kept in this module so every netlink socket shares one error and receive path.
extension NetlinkSocket {
    /// Sends `batch` (several messages in one datagram, e.g. NFNL_MSG_BATCH_BEGIN … END) and
    /// waits until every sequence in `sequences` was acknowledged or refused.
    ///
    /// The kernel applies an nfnetlink batch as one transaction: if any message is refused,
    /// nothing is applied. Each refusal is reported with `describe(sequence)` naming the message
    /// that failed and the kernel's extended-ACK text; the first refusal is thrown. A refusal of
    /// the batch as a whole (EPERM without CAP_NET_ADMIN, ENOMEM) comes with `batchSequence`, the
    /// BEGIN message's, and ends the wait at once. No reply within `timeoutMilliseconds` is an
    /// error rather than a hang.
    public func exchangeBatch(
        _ batch: [UInt8], batchSequence: UInt32, sequences: [UInt32], operation: String,
        timeoutMilliseconds: Int32 = 10_000, describe: (UInt32) -> String
    ) throws(NetlinkError) {
        // One batch must travel in one sendmsg; the default send buffer holds ~200 KiB.
        var size = Int32(clamping: batch.count + 65536)
        _ = setsockopt(mnl_socket_get_fd(handle), SOL_SOCKET, SO_SNDBUFFORCE, &size, socklen_t(MemoryLayout<Int32>.size))
        try send(batch, operation: operation)
        var pending = Set(sequences)
        var failures: [NetlinkError] = []
        while !pending.isEmpty {
            let messages = try receiveNotifications(timeoutMilliseconds: timeoutMilliseconds)
            guard !messages.isEmpty else {
                throw NetlinkError(
                    operation: operation, errno: 110, kernelMessage: nil, attributeOffset: nil, sequence: batchSequence,
                    detail: "no reply for \(pending.count) of \(sequences.count) messages within \(timeoutMilliseconds) ms"
                )
            }
            for message in messages {
                guard message.type == NetlinkConstants.error, message.portID == portID || message.portID == 0 else { continue }
                if message.sequence == batchSequence {
                    if let error = try message.errorReply(operation: "\(operation): the batch as a whole") { throw error }
                    continue
                }
                guard pending.remove(message.sequence) != nil else { continue }
                if let error = try message.errorReply(operation: "\(operation): \(describe(message.sequence))") {
                    failures.append(error)
                }
            }
        }
        if let first = failures.first { throw first }
    }

    /// Subscribes this socket to multicast `group` (e.g. NFNLGRP_NFTABLES).
    public func joinGroup(_ group: UInt32) throws(NetlinkError) {
        var value = group
        guard mnl_socket_setsockopt(handle, Int32(NETLINK_ADD_MEMBERSHIP), &value, socklen_t(MemoryLayout<UInt32>.size)) == 0 else {
            throw NetlinkError(operation: "joining netlink multicast group \(group)", errno: errno, kernelMessage: nil, attributeOffset: nil, sequence: nil, detail: nil)
        }
    }

    /// Unsubscribes this socket from multicast `group`.
    public func leaveGroup(_ group: UInt32) throws(NetlinkError) {
        var value = group
        guard mnl_socket_setsockopt(handle, Int32(NETLINK_DROP_MEMBERSHIP), &value, socklen_t(MemoryLayout<UInt32>.size)) == 0 else {
            throw NetlinkError(operation: "leaving netlink multicast group \(group)", errno: errno, kernelMessage: nil, attributeOffset: nil, sequence: nil, detail: nil)
        }
    }

    /// Waits up to `timeoutMilliseconds` for notifications (or replies); returns the messages of
    /// one datagram, or an empty array on timeout. ENOBUFS (events were lost because we were too
    /// slow) is thrown so the caller can resynchronise with a full read-back.
    public func receiveNotifications(timeoutMilliseconds: Int32) throws(NetlinkError) -> [NetlinkMessage] {
        var descriptor = pollfd(fd: mnl_socket_get_fd(handle), events: Int16(POLLIN), revents: 0)
        var ready: Int32
        repeat { ready = poll(&descriptor, 1, timeoutMilliseconds) } while ready < 0 && errno == EINTR
        guard ready >= 0 else {
            throw NetlinkError(operation: "waiting for netlink notifications", errno: errno, kernelMessage: nil, attributeOffset: nil, sequence: nil, detail: "poll")
        }
        guard ready > 0 else { return [] }
        let received = receiveBuffer.withUnsafeMutableBytes { mnl_socket_recvfrom(handle, $0.baseAddress, $0.count) }
        guard received >= 0 else {
            throw NetlinkError(operation: "receiving netlink notifications", errno: errno, kernelMessage: nil, attributeOffset: nil, sequence: nil, detail: "recvfrom")
        }
        return try NetlinkMessage.parseAll(Array(receiveBuffer[0..<received]))
    }
}
