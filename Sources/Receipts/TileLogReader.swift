/// Reads a tiled log's entries and hashes from its directory: what the gateway serves proofs
/// from while the writer appends, and what popaudit and the writer's recovery read.
///
/// Full tiles never change once written. A partial tile is replaced by a wider one (or the full
/// tile) as the log grows, so a reader takes the full tile when it exists, else the widest
/// partial, and retries once when that was replaced between listing and opening it.
public struct TileLogReader: NodeHashSource, Sendable {
    public let directory: String

    public init(directory: String) {
        self.directory = directory
    }

    /// The entries of bundle `index`: 256 from the full bundle, else those of the widest partial
    /// one that reads whole (a torn wider one is skipped); empty when there is none.
    public func bundle(_ index: UInt64) throws(ReceiptLogError) -> [[UInt8]] {
        try widest(TilePath.entryBundle(index: index)) { bytes, width throws(ReceiptLogError) in
            let entries = try EntryBundle.decode(bytes)
            guard entries.count == width else {
                throw ReceiptLogError("bundle \(index) of width \(width) holds \(entries.count) entries")
            }
            return entries
        } ?? []
    }

    /// The hashes of tile `index` at `level`, full or the widest partial; empty when there is none.
    public func tile(level: Int, index: UInt64) throws(ReceiptLogError) -> [TreeHash] {
        try widest(TilePath.hashTile(level: level, index: index)) { bytes, width throws(ReceiptLogError) in
            let hashes = try HashTile.decode(bytes)
            guard hashes.count == width else {
                throw ReceiptLogError("tile \(level)/\(index) of width \(width) holds \(hashes.count) hashes")
            }
            return hashes
        } ?? []
    }

    /// The entry at `index`, when the log holds it.
    public func entry(_ index: UInt64) throws(ReceiptLogError) -> [UInt8]? {
        let entries = try bundle(index / UInt64(TilePath.width))
        let offset = Int(index % UInt64(TilePath.width))
        return offset < entries.count ? entries[offset] : nil
    }

    public func hash(height: Int, index: UInt64) throws -> TreeHash {
        let level = height / 8
        let within = height % 8
        let first = index << UInt64(within)
        let count = 1 << within
        let tileIndex = first / UInt64(TilePath.width)
        let offset = Int(first % UInt64(TilePath.width))
        let hashes = try tile(level: level, index: tileIndex)
        guard offset + count <= hashes.count else {
            throw ProofError("the log's tiles do not hold subtree \(index) of height \(height) yet")
        }
        return MemoryTree.rootOfPerfect(Array(hashes[offset..<(offset + count)]))
    }

    private func widest<T>(
        _ fullPath: String, _ decode: ([UInt8], Int) throws(ReceiptLogError) -> T
    ) throws(ReceiptLogError) -> T? {
        for attempt in 0..<2 {
            // A full file that does not decode was torn by a power loss before its checkpoint: the
            // partial versions that preceded it are read instead.
            if let bytes = try LogFiles.read("\(directory)/\(fullPath)"), let value = try? decode(bytes, TilePath.width) {
                return value
            }
            let partials = "\(directory)/\(TilePath.partialDirectory(of: fullPath))"
            let widths = LogFiles.list(partials).compactMap { Int($0) }.filter { (1..<TilePath.width).contains($0) }
            var replaced = false
            for width in widths.sorted(by: >) {
                guard let bytes = try LogFiles.read("\(partials)/\(width)") else {
                    replaced = true
                    break
                }
                if let value = try? decode(bytes, width) { return value }
            }
            if !replaced || attempt == 1 { return nil }
        }
        return nil
    }
}
