/// Where proofs read the hashes of perfect subtrees from: an in-memory tree, or the hash tiles
/// on disk.
public protocol NodeHashSource {
    /// The hash of the perfect subtree of `2^height` leaves whose first leaf is `index << height`.
    func hash(height: Int, index: UInt64) throws -> TreeHash
}

extension NodeHashSource {
    /// RFC 9162's MTH of leaves `start..<end`: one stored node when the range is a perfect
    /// subtree, else split as the RFC splits (every range a proof asks for splits into aligned
    /// perfect subtrees this way).
    public func rangeHash(_ start: UInt64, _ end: UInt64) throws -> TreeHash {
        let count = end - start
        if count == 0 { return .empty }
        if MerkleMath.isPerfect(start: start, count: count) {
            let height = MerkleMath.height(ofPerfect: count)
            return try hash(height: height, index: start >> UInt64(height))
        }
        let k = MerkleMath.split(count)
        return TreeHash.node(try rangeHash(start, start + k), try rangeHash(start + k, end))
    }

    /// The root of the tree of the first `size` leaves.
    public func root(size: UInt64) throws -> TreeHash {
        try rangeHash(0, size)
    }
}

/// A whole tree in memory, level by level: `levels[h][i]` is the hash of perfect subtree `i` of
/// height `h`. popaudit builds one from every entry of a log.
public struct MemoryTree: NodeHashSource, Sendable {
    public private(set) var levels: [[TreeHash]] = [[]]

    public init() {}

    /// Builds the tree of `entries`, in order.
    public init(entries: some Sequence<[UInt8]>) {
        for entry in entries { append(leafHash: .leaf(entry)) }
    }

    /// The number of leaves.
    public var size: UInt64 { UInt64(levels[0].count) }

    /// Adds a leaf, and every perfect subtree it completes.
    public mutating func append(leafHash: TreeHash) {
        levels[0].append(leafHash)
        var height = 0
        while levels[height].count % 2 == 0 {
            let count = levels[height].count
            let parent = TreeHash.node(levels[height][count - 2], levels[height][count - 1])
            if levels.count == height + 1 { levels.append([]) }
            levels[height + 1].append(parent)
            height += 1
        }
    }

    public func hash(height: Int, index: UInt64) throws -> TreeHash {
        guard height < levels.count, index < UInt64(levels[height].count) else {
            throw ProofError("the tree of \(size) leaves has no complete subtree \(index) of height \(height)")
        }
        return levels[height][Int(index)]
    }
}
