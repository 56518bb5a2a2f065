import Addressing
import CNftnl
import Netlink
import Testing

@testable import Firewall

@Suite("Encoding batches")
struct BatchEncodingTests {
    private func counter() -> () -> UInt32 {
        var next: UInt32 = 0
        return {
            next += 1
            return next
        }
    }

    private let v4 = TableSpec.AddressSet(name: "edge_peers_v4", ipv6: false)

    @Test("one element add carries the attributes nft sends, less nft's set id, inside BEGIN … END")
    func oneElementMatchesNft() throws {
        var batch = NftnlBatch(nextSequence: counter())
        batch.appendElements(NFT_MSG_NEWSETELEM, table: "popgate", set: v4, keys: [[10, 77, 0, 2]], label: "add 10.77.0.2")
        let messages = try NetlinkMessage.parseAll(batch.finish())
        #expect(messages.map(\.type) == [0x10, 0x0a0c, 0x11])  // BATCH_BEGIN, NEWSETELEM, BATCH_END
        #expect(Array(messages[0].payload) == [0, 0, 0, 10])  // res_id = NFNL_SUBSYS_NFTABLES, big-endian
        #expect(messages[1].flags == [.request, .ack, .create])
        #expect(batch.sequences == [2])
        #expect(batch.labels[2] == "add 10.77.0.2")
        // Captured with `nft --debug=mnl add element inet popgate edge_peers_v4 '{ 10.77.0.2 }'`
        // (nftables 1.0.6). nft also sends NFTA_SET_ELEM_LIST_SET_ID (08 00 04 00 00 00 00 01),
        // which only matters for a set created in the same batch; and libnftnl 1.2.4 writes the
        // set name before the table name, which the kernel does not mind. Each attribute is the
        // same bytes.
        let nft: [UInt8] = [
            0x01, 0x00, 0x00, 0x00,
            0x0c, 0x00, 0x01, 0x00, 0x70, 0x6f, 0x70, 0x67, 0x61, 0x74, 0x65, 0x00,
            0x12, 0x00, 0x02, 0x00, 0x65, 0x64, 0x67, 0x65, 0x5f, 0x70, 0x65, 0x65, 0x72, 0x73, 0x5f, 0x76, 0x34, 0x00, 0x00, 0x00,
            0x08, 0x00, 0x04, 0x00, 0x00, 0x00, 0x00, 0x01,
            0x14, 0x00, 0x03, 0x80, 0x10, 0x00, 0x01, 0x80, 0x0c, 0x00, 0x01, 0x80, 0x08, 0x00, 0x01, 0x00, 0x0a, 0x4d, 0x00, 0x02,
        ]
        let ours = messages[1].payload
        #expect(Array(ours.prefix(4)) == Array(nft.prefix(4)))
        func attributes(_ bytes: ArraySlice<UInt8>) throws -> [UInt16: [UInt8]] {
            try NetlinkAttribute.parse(bytes.dropFirst(4)).reduce(into: [:]) { $0[$1.type] = Array($1.payload) }
        }
        var expected = try attributes(nft[...])
        expected[4] = nil
        #expect(try attributes(ours) == expected)
        #expect(ours.count == nft.count - 8)
    }

    @Test("100,000 addresses are split into messages that stay under 64 KiB, none lost")
    func largeSetsAreSplit() throws {
        let keys = (0..<100_000).map { IPAddress.v4(0x0A40_0000 + UInt32($0)).bytes }
        var batch = NftnlBatch(nextSequence: counter())
        batch.appendElements(NFT_MSG_NEWSETELEM, table: "popgate", set: v4, keys: keys, label: "add")
        let messages = try NetlinkMessage.parseAll(batch.finish())
        let elementMessages = messages.filter { $0.type == 0x0a0c }
        #expect(elementMessages.count == 49)
        #expect(elementMessages.allSatisfy { $0.payload.count < 33_000 })
        var found = 0
        for message in elementMessages {
            let attributes = try NetlinkAttribute.parse(message.payload.dropFirst(4))
            found += try #require(attributes.first(3)).nested().count
        }
        #expect(found == 100_000)
        #expect(batch.labels.values.contains("add (message 49)"))
    }

    @Test("a removal carries no create flag")
    func removal() throws {
        var batch = NftnlBatch(nextSequence: counter())
        batch.appendElements(NFT_MSG_DELSETELEM, table: "popgate", set: v4, keys: [[10, 77, 0, 2]], label: "remove")
        let messages = try NetlinkMessage.parseAll(batch.finish())
        #expect(messages[1].type == 0x0a0e)
        #expect(messages[1].flags == [.request, .ack])
    }
}
