/// Reads structured values off the front of a fuzz input (sizes, split points, flags), leaving the
/// rest as the bytes a parser is given. Past the end it reads zeros, so every input is usable.
struct FuzzInput {
    private let bytes: UnsafeRawBufferPointer
    private var offset = 0

    init(_ bytes: UnsafeRawBufferPointer) {
        self.bytes = bytes
    }

    var remainingCount: Int { bytes.count - offset }

    mutating func byte() -> UInt8 {
        guard offset < bytes.count else { return 0 }
        defer { offset += 1 }
        return bytes[offset]
    }

    mutating func integer<T: FixedWidthInteger & UnsignedInteger>(_: T.Type = T.self) -> T {
        (0..<MemoryLayout<T>.size).reduce(T.zero) { value, _ in value << 8 | T(byte()) }
    }

    mutating func bytes(_ count: Int) -> [UInt8] {
        let taken = Array(bytes[offset..<min(bytes.count, offset + max(0, count))])
        offset += taken.count
        return taken
    }

    mutating func rest() -> [UInt8] {
        bytes(remainingCount)
    }

    /// The rest of the input cut into up to `maximum` pieces at points read first (two bytes each):
    /// how a peer's bytes may arrive in several reads. Empty pieces are dropped.
    mutating func restInPieces(maximum: Int) -> [[UInt8]] {
        let points = (0..<max(0, maximum - 1)).map { _ in Int(integer(UInt16.self)) }
        let data = rest()
        let cuts = points.map { $0 % (data.count + 1) }.sorted() + [data.count]
        var pieces: [[UInt8]] = []
        var start = 0
        for cut in cuts where cut > start {
            pieces.append(Array(data[start..<cut]))
            start = cut
        }
        return pieces
    }
}
