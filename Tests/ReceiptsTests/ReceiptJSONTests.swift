import Foundation
import Sodium
import Testing

@testable import Receipts

@Suite struct ReceiptJSONTests {
    /// As the receipt API writes it.
    static func json(_ receipt: Receipt) throws -> String {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        encoder.keyEncodingStrategy = .convertToSnakeCase
        return String(decoding: try encoder.encode(ReceiptJSON(receipt)), as: UTF8.self)
    }

    static func decode(_ text: String) throws -> ReceiptJSON {
        try ClientProofs.decoder().decode(ReceiptJSON.self, from: Data(text.utf8))
    }

    @Test func theUsageSaysWhereItCameFrom() throws {
        let counted = ReceiptEncodingTests.sample(usage: .init(promptTokens: 12, completionTokens: 40, source: .counted))
        let text = try Self.json(counted)
        #expect(text.contains(#""usage":{"completion_tokens":40,"prompt_tokens":12,"source":"counted"}"#), "\(text)")
        #expect(text.contains(#""version":2"#))
        #expect(try Self.decode(text) == ReceiptJSON(counted))

        let reported = try Self.json(ReceiptEncodingTests.sample())
        #expect(reported.contains(#""usage":{"completion_tokens":345,"prompt_tokens":12,"source":"reported"}"#), "\(reported)")
        #expect(try Self.json(ReceiptEncodingTests.sample(usage: nil)).contains(#""usage":null"#))
    }

    @Test func aVersion1ReceiptShowsItsOwnVersionAndReportedUsage() throws {
        let receipt = try ReceiptEncoding.decode(try #require(Hex.decode(ReceiptVersionTests.version1Hex)))
        let text = try Self.json(receipt)
        #expect(text.contains(#""version":1"#), "\(text)")
        #expect(text.contains(#""usage":{"completion_tokens":3,"prompt_tokens":12,"source":"reported"}"#), "\(text)")
    }

    /// A receipt file a client fetched before version 2 has no `source`; it still matches its entry.
    @Test func usageWithoutASourceReadsAsReported() throws {
        let receipt = try ReceiptEncoding.decode(try #require(Hex.decode(ReceiptVersionTests.version1Hex)))
        let old = try Self.json(receipt).replacingOccurrences(of: #","source":"reported""#, with: "")
        #expect(!old.contains("source"))
        #expect(try Self.decode(old) == ReceiptJSON(receipt))
    }

    @Test func anUnknownSourceIsRefused() throws {
        let text = try Self.json(ReceiptEncodingTests.sample()).replacingOccurrences(of: #""reported""#, with: #""guessed""#)
        #expect(throws: DecodingError.self) { try Self.decode(text) }
    }
}
