import Addressing
import Netlink
import Testing

@testable import Firewall

@Suite("Drift, events and conntrack messages")
struct DriftAndMessagesTests {
    private let spec = FirewallPolicy.documentedDefault.table

    private func live(peers: Set<IPAddress>) -> LiveTable {
        var chains: [String: LiveTable.Chain] = [:]
        for chain in spec.chains {
            chains[chain.name] = .init(name: chain.name, type: "filter", hook: chain.hook, priority: 0, policy: 0,
                                       rules: chain.rules.map { $0.expressions.map(\.description) })
        }
        var sets: [String: LiveTable.AddressSet] = [:]
        for set in spec.sets {
            sets[set.name] = .init(name: set.name, keyType: set.keyType, keyLength: set.keyLength, flags: 0,
                                   elements: peers.filter { $0.isV4 != set.ipv6 })
        }
        return LiveTable(chains: chains, sets: sets)
    }

    @Test("an identical table has no drift")
    func identical() {
        let peers: Set<IPAddress> = [IPAddress("10.77.0.2")!, IPAddress("fd77::2")!]
        #expect(FirewallDrift.compare(live: live(peers: peers), intended: spec, peers: peers).isEmpty)
    }

    @Test("a missing table is structural drift with every peer missing")
    func missingTable() {
        let drift = FirewallDrift.compare(live: nil, intended: spec, peers: [IPAddress("10.77.0.2")!])
        #expect(drift.structural == ["table inet popgate does not exist"])
        #expect(drift.missingElements == [IPAddress("10.77.0.2")!])
    }

    @Test("element differences alone are not structural")
    func elements() {
        let drift = FirewallDrift.compare(live: live(peers: [IPAddress("10.77.0.9")!]), intended: spec, peers: [IPAddress("10.77.0.2")!])
        #expect(drift.structural.isEmpty)
        #expect(drift.missingElements == [IPAddress("10.77.0.2")!])
        #expect(drift.extraElements == [IPAddress("10.77.0.9")!])
    }

    @Test("a changed rule, an accepting policy and a stray chain are named")
    func structural() {
        var table = live(peers: [])
        table.chains["input"]!.rules[4] = ["[ immediate reg 0 accept ]"]
        table.chains["forward"]!.policy = 1
        table.chains["extra"] = .init(name: "extra", type: "filter", hook: nil, priority: nil, policy: nil, rules: [])
        let drift = FirewallDrift.compare(live: table, intended: spec, peers: [])
        #expect(drift.structural.contains { $0.hasPrefix("chain input: rule 5 differs (iifname \"eth0\" udp dport 51820") })
        #expect(drift.structural.contains { $0.hasPrefix("chain forward is not a filter hook 2") })
        #expect(drift.structural.contains("chain extra is not part of the policy"))
    }

    private func message(type: UInt16, family: UInt8, attributes: [(UInt16, [UInt8])]) -> NetlinkMessage {
        var builder = NetlinkMessageBuilder(type: type, flags: [], sequence: 0)
        builder.appendFamilyHeader([family, 0, 0, 0])
        for (attribute, value) in attributes { builder.appendAttribute(attribute, value) }
        return try! NetlinkMessage.parseAll(builder.finish())[0]
    }

    @Test("nftables notifications name the action and the table; generation markers are skipped")
    func events() throws {
        let deleteRule = message(type: 0x0a08, family: 1, attributes: [(1, Array("popgate".utf8) + [0]), (2, Array("input".utf8) + [0])])
        let event = try #require(FirewallEvent.parse(deleteRule))
        #expect(event.description == "delete rule in table inet popgate")
        #expect(event.isRemoval)
        #expect(FirewallEvent.parse(message(type: 0x0a0f, family: 0, attributes: [(1, [0, 0, 0, 1])])) == nil)
        #expect(FirewallEvent.parse(message(type: 0x0100, family: 2, attributes: [])) == nil)
    }

    @Test("a conntrack entry is matched by its original source and deleted by its full tuple")
    func conntrack() throws {
        // CTA_TUPLE_ORIG { CTA_TUPLE_IP { V4_SRC 10.77.0.2, V4_DST 10.77.0.1 }, CTA_TUPLE_PROTO {...} }
        let ip: [UInt8] = [8, 0, 1, 0, 10, 77, 0, 2, 8, 0, 2, 0, 10, 77, 0, 1]
        let proto: [UInt8] = [5, 0, 1, 0, 6, 0, 0, 0]
        var tuple: [UInt8] = [UInt8(4 + ip.count), 0, 1, 0x80] + ip
        tuple += [UInt8(4 + proto.count), 0, 2, 0x80] + proto
        let entry = message(type: 0x0100, family: 2, attributes: [(1 | 0x8000, tuple)])
        let found = try #require(ConntrackMessages.match(entry, source: IPAddress("10.77.0.2")!))
        #expect(Array(found.tuple) == tuple)
        #expect(ConntrackMessages.match(entry, source: IPAddress("10.77.0.1")!) == nil)
        let delete = ConntrackMessages.deleteRequest(family: 2, tuple: found.tuple, zone: nil, sequence: 7)
        #expect(Array(delete[4..<8]) == [0x02, 0x01, 0x05, 0x00])  // IPCTNL_MSG_CT_DELETE, REQUEST|ACK
        #expect(Array(delete[16..<20]) == [2, 0, 0, 0])
        #expect(Array(delete[20...]) == [UInt8(4 + tuple.count), 0, 1, 0x80] + tuple)
    }
}
