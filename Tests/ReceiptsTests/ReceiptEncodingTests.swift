import Testing

@testable import Receipts

@Suite struct ReceiptEncodingTests {
    static func sample(
        usage: Receipt.Usage? = .init(promptTokens: 12, completionTokens: 345), version: UInt8 = Receipt.currentVersion
    ) -> Receipt {
        Receipt(
            id: ReceiptID(high: 0x0102_0304_0506_0708, low: 0x090a_0b0c_0d0e_0f10), session: ReceiptID(high: 7, low: 9),
            timeMicroseconds: 1_764_489_600_123_456, tenant: "acme", peer: [UInt8](repeating: 0xab, count: 32),
            model: "popgate-sim-small", modelVersion: "2026-06", tier: "fast", backend: "sim-big", status: 200, usage: usage,
            version: version
        )
    }

    @Test func theLayoutIsFixed() {
        let bytes = ReceiptEncoding.encode(Self.sample())
        #expect(bytes[0] == 2)
        #expect(Array(bytes[1..<17]) == Array(1...16))
        // time at 33, status at 41, flags at 43, tokens at 44 and 48, peer at 52, then the texts.
        #expect(Array(bytes[41..<44]) == [0, 200, 1])
        #expect(Array(bytes[44..<52]) == [0, 0, 0, 12, 0, 0, 1, 89])
        #expect(Array(bytes[84..<90]) == [0, 4] + Array("acme".utf8))
        #expect(bytes.count == 84 + 5 * 2 + 4 + 17 + 7 + 4 + 7)
    }

    @Test func roundTrips() throws {
        for receipt in [Self.sample(), Self.sample(usage: nil), Self.sample(version: 1), Self.sample(usage: nil, version: 1)] {
            #expect(try ReceiptEncoding.decode(ReceiptEncoding.encode(receipt)) == receipt)
        }
        #expect(Self.sample().timeText == "2025-11-30T08:00:00.123456Z")
        #expect(ReceiptID("rcpt_0102030405060708090a0b0c0d0e0f10") == Self.sample().id)
        #expect(Self.sample().id.description == "rcpt_0102030405060708090a0b0c0d0e0f10")
        #expect(ReceiptID("rcpt_0102") == nil)
    }

    @Test func anythingElseIsRefused() {
        let good = ReceiptEncoding.encode(Self.sample())
        var cases: [[UInt8]] = [[], Array(good.dropLast()), good + [0]]
        var badVersion = good
        badVersion[0] = 0
        var badFlags = good
        badFlags[43] = 5
        var tokensWithoutUsage = ReceiptEncoding.encode(Self.sample(usage: nil))
        tokensWithoutUsage[47] = 1
        var badUTF8 = good
        badUTF8[86] = 0xff
        cases += [badVersion, badFlags, tokensWithoutUsage, badUTF8]
        for bytes in cases {
            #expect(throws: ReceiptDecodingError.self) { try ReceiptEncoding.decode(bytes) }
        }
    }

    @Test func longTextsAreCutAtACharacterBoundary() throws {
        var receipt = Self.sample()
        receipt.model = String(repeating: "é", count: 600)  // 1,200 bytes
        let decoded = try ReceiptEncoding.decode(ReceiptEncoding.encode(receipt))
        #expect(decoded.model == String(repeating: "é", count: 512))
    }
}
