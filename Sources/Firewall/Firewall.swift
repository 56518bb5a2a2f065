import Addressing
import CMnl
import CNftnl
import Netlink

/// Owns table `inet popgate`: installs a policy atomically, keeps the peer sets current
/// element by element, and reads the live table back to find drift.
///
/// Not thread-safe: one owner (popnetd's reconciler) uses it at a time.
public final class Firewall: @unchecked Sendable {
    private let socket: NetlinkSocket

    /// Opens a NETLINK_NETFILTER socket. Needs CAP_NET_ADMIN for every change.
    public init() throws(FirewallError) {
        do { socket = try NetlinkSocket(protocol: netfilterProtocol) } catch { throw .netlink(error) }
    }

    /// Makes the live table match `policy` with `peers` in the sets. Sends nothing when there is
    /// no drift; only elements when only elements differ; else replaces the whole table in one
    /// batch. Returns what it found.
    @discardableResult
    public func install(_ policy: FirewallPolicy, peers: Set<IPAddress>) throws(FirewallError) -> FirewallDrift {
        let drift = try self.drift(policy, peers: peers)
        if drift.isEmpty { return drift }
        if drift.structural.isEmpty {
            try changePeers(add: drift.missingElements, remove: drift.extraElements)
        } else {
            try replace(policy, peers: peers)
        }
        return drift
    }

    /// Replaces the whole table in one batch: add (so the delete cannot fail), delete, then add
    /// the table, its chains, sets, rules and elements. Readers never see a half-built table.
    public func replace(_ policy: FirewallPolicy, peers: Set<IPAddress>) throws(FirewallError) {
        do { try policy.validate() } catch { throw .policy(error) }
        let spec = policy.table
        let table = NftnlTable(name: spec.name)
        var batch = NftnlBatch(nextSequence: socket.allocateSequence)
        batch.append(NFT_MSG_NEWTABLE, flags: NLM_F_CREATE, label: "declare table inet \(spec.name)") {
            nftnl_table_nlmsg_build_payload($0, table.pointer)
        }
        batch.append(NFT_MSG_DELTABLE, flags: 0, label: "delete the old table inet \(spec.name)") {
            nftnl_table_nlmsg_build_payload($0, table.pointer)
        }
        batch.append(NFT_MSG_NEWTABLE, flags: NLM_F_CREATE | NLM_F_EXCL, label: "add table inet \(spec.name)") {
            nftnl_table_nlmsg_build_payload($0, table.pointer)
        }
        for chain in spec.chains {
            let object = NftnlChain(table: spec.name, chain: chain)
            batch.append(NFT_MSG_NEWCHAIN, flags: NLM_F_CREATE | NLM_F_EXCL, label: "add chain \(chain.name)") {
                nftnl_chain_nlmsg_build_payload($0, object.pointer)
            }
        }
        var setIDs: [String: UInt32] = [:]
        for (index, set) in spec.sets.enumerated() {
            setIDs[set.name] = UInt32(index + 1)
            let object = NftnlSet(table: spec.name, set: set, id: UInt32(index + 1))
            batch.append(NFT_MSG_NEWSET, flags: NLM_F_CREATE | NLM_F_EXCL, label: "add set \(set.name)") {
                nftnl_set_nlmsg_build_payload($0, object.pointer)
            }
            let keys = peers.filter { $0.isV4 != set.ipv6 }.map(\.bytes)
            batch.appendElements(NFT_MSG_NEWSETELEM, table: spec.name, set: set, keys: keys, label: "add \(keys.count) elements to set \(set.name)")
        }
        for chain in spec.chains {
            for (index, rule) in chain.rules.enumerated() {
                let object = NftnlRule(table: spec.name, chain: chain.name, rule: rule, setIDs: setIDs)
                batch.append(NFT_MSG_NEWRULE, flags: NLM_F_CREATE | NLM_F_APPEND, label: "add rule \(index + 1) to chain \(chain.name) (\(rule.nftText))") {
                    nftnl_rule_nlmsg_build_payload($0, object.pointer)
                }
            }
        }
        try send(&batch, operation: "replacing table inet \(spec.name)")
    }

    /// Adds and removes peer addresses in one small batch (all or nothing).
    public func changePeers(add: [IPAddress], remove: [IPAddress]) throws(FirewallError) {
        let both = Set(add).intersection(remove)
        if let address = both.first {
            throw .invalidRequest("peer address \(address) is both added and removed in one change; nothing was changed")
        }
        var batch = NftnlBatch(nextSequence: socket.allocateSequence)
        for (addresses, type, verb) in [(add, NFT_MSG_NEWSETELEM, "add"), (remove, NFT_MSG_DELSETELEM, "remove")] {
            for ipv6 in [false, true] {
                let keys = addresses.filter { $0.isV4 != ipv6 }.map(\.bytes)
                guard !keys.isEmpty else { continue }
                let name = ipv6 ? FirewallPolicy.peerSetV6 : FirewallPolicy.peerSetV4
                let what = keys.count == 1 ? "\(addresses.first { $0.isV4 != ipv6 }!)" : "\(keys.count) addresses"
                batch.appendElements(type, table: FirewallPolicy.tableName, set: .init(name: name, ipv6: ipv6), keys: keys,
                                     label: "\(verb) \(what) \(verb == "add" ? "to" : "from") set \(name)")
            }
        }
        guard !batch.sequences.isEmpty else { return }
        do {
            try send(&batch, operation: "changing the peer sets of table inet \(FirewallPolicy.tableName)")
        } catch .netlink(var error) where error.errno == 2 {
            error.detail = "the table or set does not exist (install the policy first), or an address to remove is not in the set; nothing was changed"
            throw .netlink(error)
        }
    }

    /// How the live table differs from `policy` with `peers`.
    ///
    /// Element differences are confirmed by reading again: the kernel dumps a set's elements in
    /// several rounds, and when its hash table resizes between rounds (it does so in the
    /// background after a bulk load) a dump misses elements without flagging NLM_F_DUMP_INTR
    /// (seen here on Linux 6.18: 90,884 of 100,000). A reading is trusted once two agree.
    public func drift(_ policy: FirewallPolicy, peers: Set<IPAddress>) throws(FirewallError) -> FirewallDrift {
        do { try policy.validate() } catch { throw .policy(error) }
        let intended = policy.table
        var live = try readBack()
        var drift = FirewallDrift.compare(live: live, intended: intended, peers: peers)
        var attempts = 0
        while !drift.isEmpty, drift.structural.isEmpty, attempts < 4 {
            attempts += 1
            let again = try readBack()
            drift = FirewallDrift.compare(live: again, intended: intended, peers: peers)
            if again == live { break }
            live = again
        }
        return drift
    }

    /// Reads table `inet popgate` back; nil when it does not exist.
    public func readBack() throws(FirewallError) -> LiveTable? {
        do {
            return try TableReader(socket: socket, table: FirewallPolicy.tableName).read()
        } catch {
            throw .netlink(error)
        }
    }

    /// The ruleset generation, which every committed change (by anyone) increments by one.
    public func generation() throws(FirewallError) -> UInt32 {
        do { return try TableReader(socket: socket, table: FirewallPolicy.tableName).generation() } catch { throw .netlink(error) }
    }

    private func send(_ batch: inout NftnlBatch, operation: String) throws(FirewallError) {
        let bytes = batch.finish()
        let labels = batch.labels
        do {
            try socket.exchangeBatch(bytes, batchSequence: batch.batchSequence, sequences: batch.sequences, operation: operation) {
                labels[$0] ?? "message \($0)"
            }
        } catch {
            throw .netlink(error)
        }
    }
}
