/// Paths of c2sp.org/tlog-tiles, relative to the log's directory.
public enum TilePath {
    /// Hashes per full tile, and entries per full bundle.
    public static let width = 256

    /// A tile index as path elements: zero-padded groups of three digits, all but the last
    /// prefixed with `x` (1234067 → `x001/x234/067`).
    public static func encode(index: UInt64) -> String {
        var groups: [String] = []
        var rest = index
        repeat {
            let group = String(rest % 1000)
            groups.append(String(repeating: "0", count: 3 - group.count) + group)
            rest /= 1000
        } while rest > 0
        return groups.reversed().enumerated().map { $0.offset == groups.count - 1 ? $0.element : "x" + $0.element }
            .joined(separator: "/")
    }

    /// The hash tile at `level`: full when `width` is 256, else the partial tile of that width.
    public static func hashTile(level: Int, index: UInt64, width: Int = TilePath.width) -> String {
        "tile/\(level)/" + encode(index: index) + suffix(width)
    }

    /// The entry bundle `index`: full when `width` is 256, else the partial bundle of that width.
    public static func entryBundle(index: UInt64, width: Int = TilePath.width) -> String {
        "tile/entries/" + encode(index: index) + suffix(width)
    }

    /// The directory holding a tile's partial versions (`….p`).
    public static func partialDirectory(of fullPath: String) -> String {
        fullPath + ".p"
    }

    private static func suffix(_ width: Int) -> String {
        precondition((1...TilePath.width).contains(width))
        return width == TilePath.width ? "" : ".p/\(width)"
    }
}

/// An entry bundle's bytes: each entry as a big-endian u16 length and its bytes.
public enum EntryBundle {
    public static func encode(_ entries: some Sequence<[UInt8]>) -> [UInt8] {
        var out: [UInt8] = []
        for entry in entries {
            precondition(entry.count <= Int(UInt16.max))
            out.append(UInt8(entry.count >> 8))
            out.append(UInt8(entry.count & 0xff))
            out += entry
        }
        return out
    }

    /// The entries of a bundle; throws when the bytes end inside one (a torn write).
    public static func decode(_ bytes: [UInt8]) throws(ReceiptLogError) -> [[UInt8]] {
        var entries: [[UInt8]] = []
        var offset = 0
        while offset < bytes.count {
            guard offset + 2 <= bytes.count else { throw ReceiptLogError("the bundle ends inside an entry's length") }
            let count = Int(bytes[offset]) << 8 | Int(bytes[offset + 1])
            offset += 2
            guard offset + count <= bytes.count else { throw ReceiptLogError("the bundle ends inside entry \(entries.count)") }
            entries.append(Array(bytes[offset..<(offset + count)]))
            offset += count
        }
        return entries
    }
}

/// A hash tile's bytes: its hashes, 32 bytes each.
enum HashTile {
    static func encode(_ hashes: some Sequence<TreeHash>) -> [UInt8] {
        hashes.flatMap(\.bytes)
    }

    static func decode(_ bytes: [UInt8]) throws(ReceiptLogError) -> [TreeHash] {
        guard bytes.count % 32 == 0, bytes.count <= 32 * TilePath.width else {
            throw ReceiptLogError("a hash tile of \(bytes.count) bytes is not a whole number of hashes (at most 256)")
        }
        return stride(from: 0, to: bytes.count, by: 32).map { TreeHash(bytes: bytes[$0..<($0 + 32)])! }
    }
}
