import Addressing
import CNftnl
import Netlink

/// The kernel's nftables dump replies read into ``LiveTable``'s parts, through libnftnl's parsers;
/// ``TableReader`` does the exchanges. Apart from libnftnl, pure: tested on a real kernel's replies
/// (`CapturedFirewallSeedsTests`).
///
/// Each reader returns nil for a message that is not an object of `table`. libnftnl trusts the
/// kernel: an attribute of the wrong size ends the process (`exit(1)`, "nf_tables kernel ABI is
/// broken"), so these readers are not fuzzed (docs/reliability.md).
package enum TableReplies {
    /// A set as its dump describes it, before its elements are read.
    package struct SetHeader: Hashable, Sendable {
        package var name: String
        package var keyType: UInt32
        package var keyLength: UInt32
        package var flags: UInt32
    }

    /// The chain in one NFT_MSG_NEWCHAIN reply, its rules still empty.
    package static func chain(in message: NetlinkMessage, table: String) -> LiveTable.Chain? {
        guard isObject(message, NFT_MSG_NEWCHAIN) else { return nil }
        let chain = NftnlChain()
        guard withNetlinkHeader(message, { nftnl_chain_nlmsg_parse($0, chain.pointer) }) >= 0,
              string(nftnl_chain_get_str(chain.pointer, nftnlAttribute(NFTNL_CHAIN_TABLE))) == table else { return nil }
        func u32(_ attribute: nftnl_chain_attr) -> UInt32? {
            nftnl_chain_is_set(chain.pointer, nftnlAttribute(attribute))
                ? nftnl_chain_get_u32(chain.pointer, nftnlAttribute(attribute)) : nil
        }
        return LiveTable.Chain(
            name: string(nftnl_chain_get_str(chain.pointer, nftnlAttribute(NFTNL_CHAIN_NAME))) ?? "",
            type: string(nftnl_chain_get_str(chain.pointer, nftnlAttribute(NFTNL_CHAIN_TYPE))),
            hook: u32(NFTNL_CHAIN_HOOKNUM),
            priority: nftnl_chain_is_set(chain.pointer, nftnlAttribute(NFTNL_CHAIN_PRIO))
                ? nftnl_chain_get_s32(chain.pointer, nftnlAttribute(NFTNL_CHAIN_PRIO)) : nil,
            policy: u32(NFTNL_CHAIN_POLICY),
            rules: []
        )
    }

    /// The chain and the expressions (as libnftnl prints them) of the rule in one NFT_MSG_NEWRULE reply.
    package static func rule(in message: NetlinkMessage, table: String) -> (chain: String, expressions: [String])? {
        guard isObject(message, NFT_MSG_NEWRULE) else { return nil }
        let rule = NftnlRule()
        guard withNetlinkHeader(message, { nftnl_rule_nlmsg_parse($0, rule.pointer) }) >= 0,
              string(nftnl_rule_get_str(rule.pointer, nftnlAttribute(NFTNL_RULE_TABLE))) == table,
              let chain = string(nftnl_rule_get_str(rule.pointer, nftnlAttribute(NFTNL_RULE_CHAIN))) else { return nil }
        return (chain, rule.expressionTexts)
    }

    /// The set described by one NFT_MSG_NEWSET reply.
    package static func set(in message: NetlinkMessage, table: String) -> SetHeader? {
        guard isObject(message, NFT_MSG_NEWSET) else { return nil }
        let set = NftnlSet()
        guard withNetlinkHeader(message, { nftnl_set_nlmsg_parse($0, set.pointer) }) >= 0,
              string(nftnl_set_get_str(set.pointer, nftnlAttribute(NFTNL_SET_TABLE))) == table,
              let name = string(nftnl_set_get_str(set.pointer, nftnlAttribute(NFTNL_SET_NAME))) else { return nil }
        func u32(_ attribute: nftnl_set_attr) -> UInt32 {
            nftnl_set_is_set(set.pointer, nftnlAttribute(attribute)) ? nftnl_set_get_u32(set.pointer, nftnlAttribute(attribute)) : 0
        }
        return SetHeader(name: name, keyType: u32(NFTNL_SET_KEY_TYPE), keyLength: u32(NFTNL_SET_KEY_LEN), flags: u32(NFTNL_SET_FLAGS))
    }

    /// The addresses among the elements in a set's NFT_MSG_NEWSETELEM replies; keys that are not
    /// 4 or 16 bytes are not addresses and are left out.
    package static func addresses(inElementReplies replies: [NetlinkMessage], table: String, set name: String) -> Set<IPAddress> {
        let set = NftnlSet()
        nftnl_set_set_u32(set.pointer, nftnlAttribute(NFTNL_SET_FAMILY), UInt32(TableSpec.family))
        nftnl_set_set_str(set.pointer, nftnlAttribute(NFTNL_SET_TABLE), table)
        nftnl_set_set_str(set.pointer, nftnlAttribute(NFTNL_SET_NAME), name)
        for message in replies where isObject(message, NFT_MSG_NEWSETELEM) {
            _ = withNetlinkHeader(message) { nftnl_set_elems_nlmsg_parse($0, set.pointer) }
        }
        var addresses = Set<IPAddress>()
        guard let iterator = nftnl_set_elems_iter_create(set.pointer) else { return addresses }
        defer { nftnl_set_elems_iter_destroy(iterator) }
        while let element = nftnl_set_elems_iter_next(iterator) {
            var length: UInt32 = 0
            guard let key = nftnl_set_elem_get(element, nftnlAttribute(NFTNL_SET_ELEM_KEY), &length) else { continue }
            let bytes = Array(UnsafeRawBufferPointer(start: key, count: Int(length)))
            if let address = IPAddress(bytes: bytes) { addresses.insert(address) }
        }
        return addresses
    }

    /// Only the object a reader expects goes to libnftnl, and only with the 4-byte nfgenmsg its
    /// parsers read before the attributes without checking the length: a dump's DONE, an error, or
    /// a short message is no object.
    private static func isObject(_ message: NetlinkMessage, _ type: nf_tables_msg_types) -> Bool {
        message.type == FirewallEvent.subsystem << 8 | UInt16(type.rawValue) && message.payload.count >= 4
    }

    private static func string(_ pointer: UnsafePointer<CChar>?) -> String? { pointer.map { String(cString: $0) } }
}
