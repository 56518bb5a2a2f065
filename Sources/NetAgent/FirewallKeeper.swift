import Addressing
import Firewall
import Foundation
import Logging

/// popnetd's hold on table `inet popgate`: installs the policy, keeps the peer sets equal to the
/// registry's live peers, and repairs any outside change.
///
/// Two callers: the reconcile loop (``setPeers(_:)``) and the watch thread (``watch(until:)``);
/// a lock serialises their table operations, as the netlink sockets underneath are not
/// thread-safe. The watch thread waits on the monitor outside the lock; meanwhile the reconcile
/// loop only unsubscribes and resubscribes it, which is a setsockopt(2) the kernel serialises.
public final class FirewallKeeper: @unchecked Sendable {
    private let policy: FirewallPolicy
    private let verifyInterval: Duration
    private var board: StatusBoard?
    private let logger: Logger
    private let lock = NSLock()
    private let firewall: Firewall
    private let monitor: FirewallMonitor
    private var peers: Set<IPAddress> = []

    /// Subscribes to nftables notifications, then opens the socket that changes the table (in that
    /// order, so no change between the two goes unheard).
    public init(policy: FirewallPolicy, verifyInterval: Duration, logger: Logger) throws(NetAgentError) {
        self.policy = policy
        self.verifyInterval = verifyInterval
        self.logger = logger
        do {
            monitor = try FirewallMonitor()
            firewall = try Firewall()
        } catch {
            throw NetAgentError("cannot open the nftables netlink socket: \(error)")
        }
    }

    /// Makes the table match the policy with `peers` in the sets, sending nothing when it already
    /// does (a restarted popnetd changes nothing that is correct).
    public func start(peers: Set<IPAddress>) throws(NetAgentError) {
        lock.lock()
        defer { lock.unlock() }
        let drift: FirewallDrift
        do { drift = try firewall.repair(policy, peers: peers, monitor: monitor) } catch {
            throw NetAgentError("cannot install the nftables policy (table inet popgate): \(error)")
        }
        self.peers = peers
        logger.info(
            drift.isEmpty ? "firewall already in place" : "firewall installed",
            metadata: ["firewall.peers": "\(peers.count)", "firewall.changed": "\(drift.isEmpty ? "nothing" : "\(drift)")"]
        )
    }

    /// Publishes the firewall's state on `board` from now on (the board exists only once the
    /// WireGuard interface is up, which is after the policy went in).
    public func publish(on board: StatusBoard) {
        lock.withLock {
            self.board = board
            board.recordFirewall(peers: peers.count, repaired: false, error: nil)
        }
    }

    /// Brings the peer sets to `wanted`, element by element, and ends the connections of every
    /// address that left (conntrack), so a revoked peer's established TCP stops at once instead
    /// of riding the "established" rule.
    public func setPeers(_ wanted: Set<IPAddress>) {
        lock.withLock {
            let added = wanted.subtracting(peers)
            let removed = peers.subtracting(wanted)
            guard !added.isEmpty || !removed.isEmpty else { return }
            do {
                // Our own change, so the monitor need not wake the watch thread for it.
                try monitor.suspended { () throws(FirewallError) in
                    try firewall.changePeers(add: Array(added), remove: Array(removed))
                }
                peers = wanted
            } catch {
                // The table may have gone (`nft flush ruleset`): the repair puts back all of it.
                peers = wanted
                repairLocked(reason: "peer change failed: \(error)")
            }
            var flushed = 0
            for address in removed {
                do { flushed += try ConntrackFlush.flush(source: address) } catch {
                    logger.error("cannot end the connections of a removed peer", metadata: [
                        "peer.address": "\(address)", "error": "\(error)",
                    ])
                }
            }
            logger.info("firewall peers changed", metadata: [
                "peers.added": "\(added.count)", "peers.removed": "\(removed.count)",
                "conntrack.deleted": "\(flushed)",
            ])
            board?.recordFirewall(peers: peers.count, repaired: false, error: nil)
        }
    }

    /// Blocks, repairing the table after every outside change to it (within about a second) and
    /// checking it every verify interval regardless (notifications can be lost), until `stopped`.
    public func watch(until stopped: @escaping @Sendable () -> Bool) {
        let clock = ContinuousClock()
        var nextCheck = clock.now + verifyInterval
        while !stopped() {
            var due = clock.now >= nextCheck
            var reason = "periodic check"
            do {
                switch try monitor.wait(timeoutMilliseconds: 250) {
                case .events(let events) where !events.isEmpty:
                    due = true
                    reason = "\(events.count) change notifications on the table"
                case .events:
                    break
                case .eventsLost:
                    due = true
                    reason = "notifications lost"
                }
            } catch {
                due = true
                reason = "notification read failed: \(error)"
            }
            guard due else { continue }
            nextCheck = clock.now + verifyInterval
            lock.withLock { repairLocked(reason: reason) }
        }
    }

    private func repairLocked(reason: String) {
        do {
            let drift = try firewall.repair(policy, peers: peers, monitor: monitor)
            guard !drift.isEmpty else { return }
            logger.warning("firewall drift repaired", metadata: ["firewall.drift": "\(drift)", "reason": "\(reason)"])
            board?.recordFirewall(peers: peers.count, repaired: true, error: nil)
        } catch {
            // The kernel keeps whatever it has; the next notification or check tries again.
            logger.error("firewall repair failed; will retry", metadata: ["error": "\(error)", "reason": "\(reason)"])
            board?.recordFirewall(peers: peers.count, repaired: false, error: "\(error)")
        }
    }
}
