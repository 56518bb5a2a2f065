/// The right edge of the tree as the tiles hold it: for each tile level, the hashes of the tile
/// still being filled. Appending a leaf may complete tiles, whose hashes go one level up.
struct TileState: Sendable {
    /// `partial[l]`: the hashes of level `l`'s unfinished tile (fewer than 256).
    private(set) var partial: [[TreeHash]] = [[]]
    /// How many hashes each level holds in all (full tiles and the partial one).
    private(set) var counts: [UInt64] = [0]

    var size: UInt64 { counts[0] }

    /// A tile completed by an append: its level, index and hashes.
    struct FullTile {
        let level: Int
        let index: UInt64
        let hashes: [TreeHash]
    }

    /// Adds a leaf hash; returns the tiles it completed (lowest level first).
    mutating func append(leafHash: TreeHash) -> [FullTile] {
        var completed: [FullTile] = []
        var level = 0
        var hash = leafHash
        while true {
            partial[level].append(hash)
            counts[level] += 1
            guard partial[level].count == TilePath.width else { break }
            let tile = FullTile(level: level, index: counts[level] / UInt64(TilePath.width) - 1, hashes: partial[level])
            completed.append(tile)
            hash = MemoryTree.rootOfPerfect(tile.hashes)
            partial[level] = []
            level += 1
            if partial.count == level {
                partial.append([])
                counts.append(0)
            }
        }
        return completed
    }

    /// The root of the whole tree: the perfect subtrees of each level's partial tile, highest
    /// level first, folded from the right.
    var root: TreeHash {
        var subtrees: [TreeHash] = []  // left to right
        for level in stride(from: partial.count - 1, through: 0, by: -1) {
            var hashes = partial[level][...]
            // Within a tile the hashes split into perfect subtrees by the bits of their count.
            var remaining = hashes.count
            while remaining > 0 {
                let chunk = 1 << (Int.bitWidth - 1 - remaining.leadingZeroBitCount)
                subtrees.append(MemoryTree.rootOfPerfect(Array(hashes.prefix(chunk))))
                hashes = hashes.dropFirst(chunk)
                remaining -= chunk
            }
        }
        guard var root = subtrees.popLast() else { return .empty }
        while let left = subtrees.popLast() { root = TreeHash.node(left, root) }
        return root
    }
}

extension MemoryTree {
    /// The root of a perfect subtree given its 2^k hashes of one level.
    static func rootOfPerfect(_ hashes: [TreeHash]) -> TreeHash {
        var level = hashes
        while level.count > 1 {
            level = stride(from: 0, to: level.count, by: 2).map { TreeHash.node(level[$0], level[$0 + 1]) }
        }
        return level[0]
    }
}
