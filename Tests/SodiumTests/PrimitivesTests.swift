import Sodium
import Testing

@Suite struct PrimitivesTests {
    @Test func sha256MatchesFIPSVectors() {
        #expect(Hex.encode(SHA256.hash(Array("abc".utf8))) == "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad")
        #expect(Hex.encode(SHA256.hash([UInt8]())) == "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855")
        // Hashed in parts, as the receipt log's leaves and nodes are: the same as the concatenation.
        let a = Array("popgate".utf8), b = [UInt8](repeating: 0xab, count: 100)
        #expect(SHA256.hash(prefix: 0x00, a) == SHA256.hash([0x00] + a))
        #expect(SHA256.hash(prefix: 0x01, a, b) == SHA256.hash([0x01] + a + b))
        #expect(SHA256.hash(prefix: 0x00, []) == SHA256.hash([0x00]))
    }

    @Test func constantTimeEqualityComparesContentAndLength() {
        #expect(ConstantTime.equals([1, 2, 3], [1, 2, 3]))
        #expect(!ConstantTime.equals([1, 2, 3], [1, 2, 4]))
        #expect(!ConstantTime.equals([1, 2, 3], [1, 2]))
        #expect(ConstantTime.equals([], []))
    }

    @Test func randomBytesDiffer() {
        #expect(Random.bytes(32) != Random.bytes(32))
        #expect(Random.bytes(7).count == 7)
    }

    @Test func secretBytesAreRedactedAndComparable() {
        let a = SecretBytes(copying: [9, 9, 9])
        #expect("\(a)" == "SecretBytes(3 bytes, redacted)")
        #expect(a.constantTimeEquals(SecretBytes(copying: [9, 9, 9])))
        #expect(!a.constantTimeEquals(SecretBytes(copying: [9, 9, 8])))
    }

    @Test func hexRoundTripsAndRejectsJunk() {
        #expect(Hex.decode("00ff10") == [0, 255, 16])
        #expect(Hex.decode("0") == nil)
        #expect(Hex.decode("zz") == nil)
        #expect(Hex.encode([0xde, 0xad]) == "dead")
    }
}
