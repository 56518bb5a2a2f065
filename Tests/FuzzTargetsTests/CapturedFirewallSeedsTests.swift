import Addressing
import Firewall
import Foundation
import Netlink
import Testing

/// The firewall-reply seeds are the kernel's own messages (Fuzz/capture-firewall-replies.py), and
/// popnetd's readers find in them the table popgate-fwcheck installed for the capture: the seeds
/// start the fuzzer from real replies, and the readers are checked against a real kernel's bytes.
@Suite struct CapturedFirewallSeedsTests {
    static func messages(_ seed: String) throws -> [NetlinkMessage] {
        let url = CorpusReplayTests.corpus.appendingPathComponent("firewall-reply").appendingPathComponent(seed)
        return try NetlinkMessage.parseAll(Array(try Data(contentsOf: url)))
    }

    @Test func theChainDumpHoldsPopgatesThreeBaseChainsAndInputDrops() throws {
        let chains = try Self.messages("chains-0").compactMap { TableReplies.chain(in: $0, table: "popgate") }
        #expect(Set(chains.map(\.name)) == ["input", "forward", "output"])
        #expect(chains.allSatisfy { $0.type == "filter" && $0.hook != nil })
        let input = try #require(chains.first { $0.name == "input" })
        #expect(input.policy == 0, "input's policy is NF_DROP")
        #expect(try Self.messages("chains-0").compactMap { TableReplies.chain(in: $0, table: "other") }.isEmpty)
    }

    @Test func theRuleDumpNamesItsChainsAndPrintsExpressions() throws {
        let rules = try ["rules-0", "rules-1"].flatMap(Self.messages).compactMap { TableReplies.rule(in: $0, table: "popgate") }
        #expect(Set(rules.map(\.chain)) == ["input", "output"], "forward has no rule: its policy drops")
        #expect(rules.allSatisfy { !$0.expressions.isEmpty && $0.expressions.allSatisfy { $0.hasPrefix("[ ") } })
    }

    @Test func theSetsAndTheirElementsAreThePeersOfTheCapture() throws {
        let sets = try Self.messages("sets-0").compactMap { TableReplies.set(in: $0, table: "popgate") }
        #expect(Set(sets.map(\.name)) == [FirewallPolicy.peerSetV4, FirewallPolicy.peerSetV6])
        #expect(sets.first { $0.name == FirewallPolicy.peerSetV4 }?.keyLength == 4)
        let v4 = try ["elements-edge_peers_v4-0", "elements-edge_peers_v4-1"].flatMap(Self.messages)
        #expect(TableReplies.addresses(inElementReplies: v4, table: "popgate", set: FirewallPolicy.peerSetV4)
            == [IPAddress("10.77.0.2")!, IPAddress("10.77.0.3")!])
        let v6 = try Self.messages("elements-edge_peers_v6-0")
        #expect(TableReplies.addresses(inElementReplies: v6, table: "popgate", set: FirewallPolicy.peerSetV6)
            == [IPAddress("fd77::2")!, IPAddress("fd77::9")!])
    }

    @Test func theEventsAreThePeerChangesAndTheOtherTable() throws {
        let events = try (0..<8).flatMap { try Self.messages("event-\($0)") }.compactMap(FirewallEvent.parse)
        #expect(events.contains { $0.table == "popgate" && $0.action == "add element" })
        #expect(events.contains { $0.table == "popgate" && $0.action == "delete element" && $0.isRemoval })
        #expect(events.contains { $0.table == "scratch" && $0.action == "delete table" })
    }

    @Test func theConntrackDumpsHoldTheLoopbackConnectionOfEachFamily() throws {
        let v4 = try Self.messages("conntrack-v4-0")
        #expect(v4.contains { ConntrackMessages.match($0, source: IPAddress("127.0.0.1")!) != nil })
        #expect(!v4.contains { ConntrackMessages.match($0, source: IPAddress("10.77.0.2")!) != nil })
        let v6 = try Self.messages("conntrack-v6-0")
        #expect(v6.contains { ConntrackMessages.match($0, source: IPAddress("::1")!) != nil })
    }

    /// libnftnl ends the process on an attribute it does not expect, and reads a 4-byte header
    /// before the attributes without checking the length: a reader hands it only the object it
    /// expects, whole.
    @Test func aReaderTakesOnlyTheObjectItExpects() throws {
        let chainMessages = try Self.messages("chains-0")
        #expect(chainMessages.allSatisfy { TableReplies.rule(in: $0, table: "popgate") == nil })
        #expect(chainMessages.allSatisfy { TableReplies.set(in: $0, table: "popgate") == nil })
        #expect(try Self.messages("chains-1").allSatisfy { TableReplies.chain(in: $0, table: "popgate") == nil })
        // NFT_MSG_NEWCHAIN with 2 bytes of payload.
        let short = try #require(try NetlinkMessage.parseAll([18, 0, 0, 0, 3, 0x0a, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0]).first)
        #expect(short.payload.count == 2 && TableReplies.chain(in: short, table: "popgate") == nil)
    }
}
