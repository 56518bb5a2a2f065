import Addressing
import CMnl
import CNftnl
import Netlink

/// Reads one inet table back over netlink: a get for the table, dumps of its chains, rules
/// and sets, and one element dump per set. Dumps the kernel marks as interrupted are retried
/// by ``NetlinkSocket/dump(attempts:operation:_:)``.
///
/// The several requests are not one snapshot, so the ruleset generation is read before and
/// after: if it moved (someone changed the ruleset meanwhile, e.g. `nft flush ruleset` while we
/// dumped), or an object vanished halfway (ENOENT), the whole reading is repeated.
struct TableReader {
    let socket: NetlinkSocket
    let table: String

    func read(attempts: Int = 5) throws(NetlinkError) -> LiveTable? {
        for _ in 0..<attempts {
            let before = try generation()
            let reading: LiveTable??
            do {
                reading = try readOnce()
            } catch where error.errno == 2 {
                reading = nil  // a set or chain vanished while we read: torn
            }
            if let reading, try generation() == before { return reading }
        }
        var error = NetlinkError.malformed("the ruleset changed during each of \(attempts) readings; is another program rewriting it in a loop?")
        error.operation = "reading table inet \(table)"
        error.errno = 16  // EBUSY
        throw error
    }

    /// The ruleset generation (NFT_MSG_GETGEN → NFTA_GEN_ID), which every commit increments by one.
    func generation() throws(NetlinkError) -> UInt32 {
        let sequence = socket.allocateSequence()
        var builder = NetlinkMessageBuilder(type: 0x0a10, flags: [.request, .ack], sequence: sequence)
        builder.appendFamilyHeader([0, 0, 0, 0])
        let replies = try socket.exchange(builder.finish(), sequence: sequence, operation: "reading the nftables generation")
        guard let reply = replies.first, reply.payload.count >= 4,
              let id = try NetlinkAttribute.parse(reply.payload.dropFirst(4)).first(1), id.payload.count == 4 else {
            throw NetlinkError.malformed("the nftables generation reply has no NFTA_GEN_ID")
        }
        return id.payload.reduce(0) { $0 << 8 | UInt32($1) }  // big-endian
    }

    /// One reading: nil when the table does not exist.
    private func readOnce() throws(NetlinkError) -> LiveTable? {
        do {
            let sequence = socket.allocateSequence()
            let probe = NftnlTable(name: table)
            _ = try socket.exchange(
                nftablesRequest(NFT_MSG_GETTABLE, flags: NLM_F_ACK, sequence: sequence) { nftnl_table_nlmsg_build_payload($0, probe.pointer) },
                sequence: sequence, operation: "reading table inet \(table)"
            )
        } catch where error.errno == 2 {
            return nil  // ENOENT: there is no such table
        }
        var live = LiveTable(chains: [:], sets: [:])
        for chain in try chains() { live.chains[chain.name] = chain }
        for (chain, rule) in try rules() { live.chains[chain]?.rules.append(rule) }
        for set in try sets() { live.sets[set.name] = set }
        return live
    }

    private func chains() throws(NetlinkError) -> [LiveTable.Chain] {
        let filter = NftnlChain(table: table, chain: nil)
        let replies = try socket.dump(operation: "dumping the chains of table inet \(table)") { sequence in
            nftablesRequest(NFT_MSG_GETCHAIN, flags: NLM_F_DUMP, sequence: sequence) { nftnl_chain_nlmsg_build_payload($0, filter.pointer) }
        }
        return replies.compactMap { TableReplies.chain(in: $0, table: table) }
    }

    private func rules() throws(NetlinkError) -> [(chain: String, expressions: [String])] {
        let filter = NftnlRule()
        nftnl_rule_set_u32(filter.pointer, nftnlAttribute(NFTNL_RULE_FAMILY), UInt32(TableSpec.family))
        nftnl_rule_set_str(filter.pointer, nftnlAttribute(NFTNL_RULE_TABLE), table)
        let replies = try socket.dump(operation: "dumping the rules of table inet \(table)") { sequence in
            nftablesRequest(NFT_MSG_GETRULE, flags: NLM_F_DUMP, sequence: sequence) { nftnl_rule_nlmsg_build_payload($0, filter.pointer) }
        }
        return replies.compactMap { TableReplies.rule(in: $0, table: table) }
    }

    private func sets() throws(NetlinkError) -> [LiveTable.AddressSet] {
        let filter = NftnlSet()
        nftnl_set_set_u32(filter.pointer, nftnlAttribute(NFTNL_SET_FAMILY), UInt32(TableSpec.family))
        nftnl_set_set_str(filter.pointer, nftnlAttribute(NFTNL_SET_TABLE), table)
        let replies = try socket.dump(operation: "dumping the sets of table inet \(table)") { sequence in
            nftablesRequest(NFT_MSG_GETSET, flags: NLM_F_DUMP, sequence: sequence) { nftnl_set_nlmsg_build_payload($0, filter.pointer) }
        }
        var out: [LiveTable.AddressSet] = []
        for header in replies.compactMap({ TableReplies.set(in: $0, table: table) }) {
            out.append(LiveTable.AddressSet(
                name: header.name, keyType: header.keyType, keyLength: header.keyLength, flags: header.flags,
                elements: try elements(of: header.name)
            ))
        }
        return out
    }

    private func elements(of name: String) throws(NetlinkError) -> Set<IPAddress> {
        let set = NftnlSet()
        nftnl_set_set_u32(set.pointer, nftnlAttribute(NFTNL_SET_FAMILY), UInt32(TableSpec.family))
        nftnl_set_set_str(set.pointer, nftnlAttribute(NFTNL_SET_TABLE), table)
        nftnl_set_set_str(set.pointer, nftnlAttribute(NFTNL_SET_NAME), name)
        let replies = try socket.dump(operation: "dumping the elements of set \(name) in table inet \(table)") { sequence in
            nftablesRequest(NFT_MSG_GETSETELEM, flags: NLM_F_DUMP, sequence: sequence) { nftnl_set_elems_nlmsg_build_payload($0, set.pointer) }
        }
        return TableReplies.addresses(inElementReplies: replies, table: table, set: name)
    }
}
