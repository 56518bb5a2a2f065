import InferenceSim
import Testing

@Suite("Simulated text and token counts")
struct SimulatedTextTests {
    static let defaultContent =
        "Hello from the popgate inference simulator. Hello from the popgate inference simulator."

    @Test("the default completion is twelve tokens of the six-word cycle")
    func defaultCompletion() {
        let count = SimulatedText.completionTokenCount(requested: nil)
        #expect(count == 12)
        #expect(SimulatedText.text(count: count) == Self.defaultContent)
        #expect(
            SimulatedText.tokens(count: 7) == ["Hello", "from", "the", "popgate", "inference", "simulator.", "Hello"])
    }

    @Test(
        "requested limits are clamped into 1...4096",
        arguments: [
            (Int?.none, 12), (1, 1), (5, 5), (0, 1), (-3, 1), (4096, 4096), (4097, 4096), (Int.max, 4096),
        ])
    func clamping(requested: Int?, expected: Int) {
        #expect(SimulatedText.completionTokenCount(requested: requested) == expected)
    }

    @Test("stream pieces concatenate to the non-streamed text")
    func streamPieces() {
        let pieces = SimulatedText.streamPieces(count: 8)
        #expect(pieces.first == "Hello")
        #expect(pieces[1] == " from")
        #expect(pieces.joined() == SimulatedText.text(count: 8))
        #expect(SimulatedText.streamPieces(count: 0).isEmpty)
    }

    @Test("words are runs of non-whitespace")
    func wordCount() {
        #expect(SimulatedText.wordCount("") == 0)
        #expect(SimulatedText.wordCount("   ") == 0)
        #expect(SimulatedText.wordCount("one") == 1)
        #expect(SimulatedText.wordCount("  two\twords\n") == 2)
        #expect(SimulatedText.wordCount("a  b\u{00A0}c") == 3)
    }

    @Test("chat prompts count their words plus one per message")
    func chatPromptTokens() {
        let messages = [
            ChatMessage(role: "system", text: "You are terse."),
            ChatMessage(role: "user", text: "Say hello"),
            ChatMessage(role: "assistant", text: ""),
        ]
        #expect(SimulatedText.promptTokens(messages: messages) == 3 + 1 + 2 + 1 + 0 + 1)
        #expect(SimulatedText.promptTokens(messages: []) == 0)
    }

    @Test("completion and embedding inputs count their words only")
    func inputPromptTokens() {
        #expect(SimulatedText.promptTokens(inputs: ["a b c", "d"]) == 4)
        #expect(SimulatedText.promptTokens(inputs: [""]) == 0)
    }
}

@Suite("Simulated embeddings")
struct SimulatedEmbeddingTests {
    @Test("FNV-1a 64 matches the published test vectors")
    func fnvVectors() {
        #expect(SimulatedEmbedding.fnv1a64("".utf8) == 0xcbf2_9ce4_8422_2325)
        #expect(SimulatedEmbedding.fnv1a64("a".utf8) == 0xaf63_dc4c_8601_ec8c)
        #expect(SimulatedEmbedding.fnv1a64("foobar".utf8) == 0x8594_4171_f739_67e8)
    }

    @Test("vectors are deterministic, eight long, unit length, and differ between inputs")
    func vectors() {
        let first = SimulatedEmbedding.vector(for: "the quick brown fox")
        #expect(first.count == 8)
        #expect(first == SimulatedEmbedding.vector(for: "the quick brown fox"))
        let norm = first.reduce(0) { $0 + $1 * $1 }.squareRoot()
        #expect(abs(norm - 1) < 1e-5)
        #expect(first != SimulatedEmbedding.vector(for: "the quick brown fog"))
        // Components must not all be alike: each carries its own mixed bits.
        #expect(Set(first.map { ($0 * 1000).rounded() }).count > 4)
    }

    @Test("base64 form is little-endian float32")
    func littleEndian() {
        #expect(SimulatedEmbedding.littleEndianBytes([1.0, -2.0]) == [0x00, 0x00, 0x80, 0x3f, 0x00, 0x00, 0x00, 0xc0])
    }
}
