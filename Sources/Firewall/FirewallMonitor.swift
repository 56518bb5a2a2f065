import Netlink

/// Watches nftables change notifications and reports the ones on popgate's table, so the owner
/// can read back and repair within a second of any outside change.
///
/// Not thread-safe: one owner polls it.
public final class FirewallMonitor: @unchecked Sendable {
    /// What one wait produced.
    public enum Report: Sendable, Equatable {
        /// Changes to our table (possibly none: the wait timed out or saw other tables only).
        case events([FirewallEvent])
        /// The kernel dropped notifications (ENOBUFS): read back, anything may have changed.
        case eventsLost
    }

    private let socket: NetlinkSocket
    private let table: String

    /// Subscribes to NFNLGRP_NFTABLES for `table` (family inet).
    public init(table: String = FirewallPolicy.tableName) throws(FirewallError) {
        self.table = table
        do {
            socket = try NetlinkSocket(protocol: netfilterProtocol)
            try socket.joinGroup(Self.group)
        } catch {
            throw .netlink(error)
        }
    }

    /// Runs `body` with the subscription dropped, then subscribes again.
    ///
    /// The kernel builds a notification per set element only while someone listens, so a bulk
    /// load with this monitor subscribed costs several times more (100,000 elements: ~0.45-1.1 s
    /// instead of ~0.2 s). Changes others make meanwhile are not reported: read back afterwards.
    public func suspended<T>(_ body: () throws(FirewallError) -> T) throws(FirewallError) -> T {
        do { try socket.leaveGroup(Self.group) } catch { throw .netlink(error) }
        let result: T
        do {
            result = try body()
        } catch {
            try? socket.joinGroup(Self.group)
            throw error
        }
        do { try socket.joinGroup(Self.group) } catch { throw .netlink(error) }
        return result
    }

    /// NFNLGRP_NFTABLES.
    static let group: UInt32 = 7

    /// Waits up to `timeoutMilliseconds` for notifications, then takes every one already queued,
    /// so one transaction (a flush is dozens of notifications) costs the owner one read-back.
    public func wait(timeoutMilliseconds: Int32) throws(FirewallError) -> Report {
        do {
            var messages = try socket.receiveNotifications(timeoutMilliseconds: timeoutMilliseconds)
            while !messages.isEmpty {
                let more = try socket.receiveNotifications(timeoutMilliseconds: 0)
                if more.isEmpty { break }
                messages += more
            }
            return .events(messages.compactMap(FirewallEvent.parse).filter { $0.table == table && $0.family == 1 })
        } catch where error.errno == 105 {
            return .eventsLost
        } catch {
            throw .netlink(error)
        }
    }
}
