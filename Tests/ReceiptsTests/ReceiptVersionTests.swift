import Sodium
import Testing

@testable import Receipts

/// Version 2 added where usage came from; version-1 leaves already in logs must still decode and
/// hash to the same bytes.
@Suite struct ReceiptVersionTests {
    /// A version-1 receipt as the version-1 encoder wrote it (the committed fuzz seed receipt-entry/receipt-0):
    /// usage 12 prompt + 3 completion tokens, flags 0x01.
    static let version1Hex = """
        010123456789abcdef0123456789abcdef00000000000000010000000000000002000644cdabb6aa4000c8010000000c00000003\
        0909090909090909090909090909090909090909090909090909090909090909000461636d6500016d0008323530392d66703800\
        046661737400056770752d31
        """
    static let flagsOffset = 43

    static func bytes(_ hex: String) throws -> [UInt8] {
        try #require(Hex.decode(hex))
    }

    static func message(of bytes: [UInt8]) -> String? {
        do {
            _ = try ReceiptEncoding.decode(bytes)
            return nil
        } catch {
            return error.reason
        }
    }

    @Test func aVersion1LeafDecodesAndReencodesByteForByte() throws {
        let bytes = try Self.bytes(Self.version1Hex)
        let receipt = try ReceiptEncoding.decode(bytes)
        #expect(receipt.version == 1)
        #expect(receipt.usage == Receipt.Usage(promptTokens: 12, completionTokens: 3, source: .reported))
        #expect(receipt.tenant == "acme" && receipt.backend == "gpu-1" && receipt.status == 200)
        #expect(ReceiptEncoding.encode(receipt) == bytes)
        #expect(TreeHash.leaf(ReceiptEncoding.encode(receipt)) == TreeHash.leaf(bytes))
    }

    @Test(arguments: UsageSource.allCases)
    func version2RoundTripsEitherSource(_ source: UsageSource) throws {
        let receipt = ReceiptEncodingTests.sample(usage: .init(promptTokens: 12, completionTokens: 40, source: source))
        let bytes = ReceiptEncoding.encode(receipt)
        #expect(bytes[0] == 2)
        #expect(bytes[Self.flagsOffset] == (source == .counted ? 0b11 : 0b01))
        let decoded = try ReceiptEncoding.decode(bytes)
        #expect(decoded == receipt)
        #expect(decoded.version == 2 && decoded.usage?.source == source)
    }

    @Test func version2DiffersFromVersion1OnlyInTheVersionAndCountedFlag() {
        let reported = Receipt.Usage(promptTokens: 12, completionTokens: 345)
        let one = ReceiptEncoding.encode(ReceiptEncodingTests.sample(usage: reported, version: 1))
        var two = ReceiptEncoding.encode(ReceiptEncodingTests.sample(usage: reported, version: 2))
        two[0] = 1
        #expect(one == two)
        var counted = ReceiptEncoding.encode(
            ReceiptEncodingTests.sample(usage: .init(promptTokens: 12, completionTokens: 345, source: .counted))
        )
        counted[0] = 1
        counted[Self.flagsOffset] = 1
        #expect(one == counted)
    }

    @Test func countedWithoutUsageKnownIsRefused() {
        var bytes = ReceiptEncoding.encode(ReceiptEncodingTests.sample(usage: nil))
        bytes[Self.flagsOffset] = 0b10
        #expect(Self.message(of: bytes) == "the usage is marked counted by the gateway although it is marked unknown")
    }

    @Test func theCountedFlagIsRefusedInVersion1() throws {
        var bytes = try Self.bytes(Self.version1Hex)
        bytes[Self.flagsOffset] = 0b11
        #expect(Self.message(of: bytes) == "the flags are 3 in a version-1 receipt, which defines only bit 0 (usage known)")
    }

    @Test func anUnknownVersionIsRefusedNamingTheVersionsThisBuildReads() {
        var bytes = ReceiptEncoding.encode(ReceiptEncodingTests.sample())
        bytes[0] = 3
        let message = Self.message(of: bytes)
        #expect(message?.hasPrefix("receipt version 3 is not known (this build reads versions 1 and 2)") == true, "\(message ?? "")")
    }

    @Test func aVersion1ReceiptCannotBeWrittenWithCountedUsage() async {
        // Nothing else in the body can fail, so the exit is the precondition's.
        await #expect(processExitsWith: .failure) {
            let usage = Receipt.Usage(promptTokens: 12, completionTokens: 40, source: .counted)
            _ = ReceiptEncoding.encode(ReceiptEncodingTests.sample(usage: usage, version: 1))
        }
    }
}
