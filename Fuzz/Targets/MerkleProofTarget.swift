import Receipts

/// RFC 9162 inclusion and consistency proof verification (``InclusionProof``, ``ConsistencyProof``)
/// with fuzzed indices, sizes and proof hashes, against a real tree of ``leafCount`` leaves:
/// honest proofs verify, and no proof verifies a leaf or an old root that is not the tree's.
///
/// Input: a mode byte (bit 0: consistency, else inclusion; bit 1: full 64-bit index and sizes,
/// else small ones), the index and size (or old and new sizes), then proof hashes, each one byte
/// naming a hash of the real tree (below 0xf0) or 0xf0+ followed by 32 raw bytes.
package enum MerkleProofTarget {
    static let target = FuzzTarget(
        name: "merkle-proof", summary: "inclusion and consistency proof verification with fuzzed proofs and sizes",
        run: run
    )

    package static let leafCount: UInt64 = 70

    package static let entries: [[UInt8]] = (0..<leafCount).map { Array("entry \($0)".utf8) }
    package static let tree = MemoryTree(entries: entries)
    /// The same log with one entry rewritten: its roots are the ones a forged proof would target.
    static let forgedTree = MemoryTree(entries: entries.enumerated().map { $0 == 0 ? Array("forged".utf8) : $1 })
    /// Every node of the real tree, for proofs built from real hashes.
    package static let pool: [TreeHash] = tree.levels.flatMap { $0 }

    static func run(_ data: UnsafeRawBufferPointer) {
        var input = FuzzInput(data)
        let mode = input.byte()
        let wide = mode & 2 != 0
        let first = wide ? input.integer(UInt64.self) : UInt64(input.byte())
        let second = wide ? input.integer(UInt64.self) : UInt64(input.byte())
        var proof: [TreeHash] = []
        while input.remainingCount > 0, proof.count < 80 {
            let choice = input.byte()
            if choice < 0xf0 {
                proof.append(pool[Int(choice) % pool.count])
            } else {
                proof.append(hash(input.bytes(32)))
            }
        }
        if mode & 1 == 0 {
            inclusion(index: first, size: second, proof: proof)
        } else {
            consistency(oldSize: first, newSize: second, proof: proof)
        }
    }

    /// Raw proof bytes as a hash; an input that ends early is padded with zeros.
    private static func hash(_ bytes: [UInt8]) -> TreeHash {
        TreeHash(bytes: bytes + [UInt8](repeating: 0, count: 32 - bytes.count))!
    }

    private static func inclusion(index: UInt64, size: UInt64, proof: [TreeHash]) {
        guard size <= leafCount, let root = try? tree.root(size: size) else {
            _ = try? InclusionProof.root(leafHash: .empty, index: index, size: size, path: proof)
            return
        }
        if index < size {
            let leaf = TreeHash.leaf(entries[Int(index)])
            let honest = (try? InclusionProof.make(index: index, size: size, from: tree)) ?? []
            FuzzCheck.require(
                (try? InclusionProof.verify(leafHash: leaf, index: index, size: size, path: honest, root: root)) != nil,
                "an honest inclusion proof does not verify"
            )
        }
        let forgedLeaf = TreeHash.leaf(Array("forged".utf8))
        FuzzCheck.require(
            (try? InclusionProof.verify(leafHash: forgedLeaf, index: index, size: size, path: proof, root: root)) == nil,
            "an inclusion proof verified an entry the tree does not hold"
        )
    }

    private static func consistency(oldSize: UInt64, newSize: UInt64, proof: [TreeHash]) {
        guard oldSize <= newSize, newSize <= leafCount, let oldRoot = try? tree.root(size: oldSize),
              let newRoot = try? tree.root(size: newSize), let forgedOld = try? forgedTree.root(size: oldSize)
        else {
            _ = try? ConsistencyProof.verify(oldSize: oldSize, newSize: newSize, oldRoot: .empty, newRoot: .empty, proof: proof)
            return
        }
        let honest = (try? ConsistencyProof.make(oldSize: oldSize, newSize: newSize, from: tree)) ?? []
        FuzzCheck.require(
            (try? ConsistencyProof.verify(oldSize: oldSize, newSize: newSize, oldRoot: oldRoot, newRoot: newRoot, proof: honest))
                != nil,
            "an honest consistency proof does not verify"
        )
        if oldSize > 0 {
            FuzzCheck.require(
                (try? ConsistencyProof.verify(
                    oldSize: oldSize, newSize: newSize, oldRoot: forgedOld, newRoot: newRoot, proof: proof
                )) == nil,
                "a consistency proof verified a rewritten history"
            )
        }
    }
}
