/// Deterministic embedding vectors: equal inputs give equal vectors, different inputs (almost
/// always) different ones, with no model behind them.
public enum SimulatedEmbedding {
    /// The length of every vector.
    public static let dimensions = 8

    /// The unit-length vector for `input`.
    ///
    /// The 64-bit FNV-1a hash of the input's UTF-8 bytes seeds a SplitMix64 sequence whose outputs,
    /// mapped into -1..<1, are the components. FNV-1a alone spreads poorly across the top bits for
    /// inputs that differ only in their last byte, so the mixer gives each component its own value.
    /// The vector is normalised, as OpenAI's embeddings are, so cosine similarity and dot product agree.
    public static func vector(for input: String) -> [Float] {
        var state = fnv1a64(input.utf8)
        let raw = (0..<dimensions).map { _ -> Double in
            let bits = splitMix64(&state)
            // The top 53 bits fill a Double's mantissa exactly.
            return Double(bits >> 11) / Double(UInt64(1) << 53) * 2 - 1
        }
        let norm = raw.reduce(0) { $0 + $1 * $1 }.squareRoot()
        guard norm > 0 else { return raw.map(Float.init) }
        return raw.map { Float($0 / norm) }
    }

    /// One step of SplitMix64: advances `state` and returns the next well-mixed value.
    static func splitMix64(_ state: inout UInt64) -> UInt64 {
        state &+= 0x9e37_79b9_7f4a_7c15
        var z = state
        z = (z ^ (z >> 30)) &* 0xbf58_476d_1ce4_e5b9
        z = (z ^ (z >> 27)) &* 0x94d0_49bb_1331_11eb
        return z ^ (z >> 31)
    }

    /// The 64-bit FNV-1a hash of `bytes`.
    public static func fnv1a64(_ bytes: some Sequence<UInt8>) -> UInt64 {
        var hash: UInt64 = 0xcbf2_9ce4_8422_2325
        for byte in bytes {
            hash ^= UInt64(byte)
            hash &*= 0x0000_0100_0000_01b3
        }
        return hash
    }

    /// The vector as OpenAI's `encoding_format: "base64"` carries it: little-endian float32 values.
    public static func littleEndianBytes(_ vector: [Float]) -> [UInt8] {
        vector.flatMap { value -> [UInt8] in
            // Shifting works on the value, not its memory, so this is little-endian on any host.
            let bits = value.bitPattern
            return (0..<4).map { UInt8(truncatingIfNeeded: bits >> (8 * $0)) }
        }
    }
}
