import Sodium
import Testing

@testable import Receipts

@Suite struct ProofTests {
    static let entries = (0..<70).map { [UInt8]("entry \($0)".utf8) }
    static let tree = MemoryTree(entries: entries)

    /// RFC 9162's own example tree of 7 leaves (§2.1.5): the proof for leaf d (index 3) is [c, g, l].
    @Test func inclusionProofShapeOfTheRFCExample() throws {
        let tree = MemoryTree(entries: MerkleVectorTests.leaves.prefix(7))
        let path = try InclusionProof.make(index: 3, size: 7, from: tree)
        #expect(path == [try tree.hash(height: 0, index: 2), try tree.hash(height: 1, index: 0), try tree.rangeHash(4, 7)])
        // And the consistency proof from 3 to 7 is [c, d, g, l].
        let consistency = try ConsistencyProof.make(oldSize: 3, newSize: 7, from: tree)
        #expect(consistency == [
            try tree.hash(height: 0, index: 2), try tree.hash(height: 0, index: 3), try tree.hash(height: 1, index: 0),
            try tree.rangeHash(4, 7),
        ])
    }

    @Test func everyInclusionProofVerifiesAndNoOtherLeafDoes() throws {
        for size in UInt64(1)...70 {
            let root = try Self.tree.root(size: size)
            for index in 0..<size {
                let path = try InclusionProof.make(index: index, size: size, from: Self.tree)
                let leaf = TreeHash.leaf(Self.entries[Int(index)])
                try InclusionProof.verify(leafHash: leaf, index: index, size: size, path: path, root: root)
                #expect(throws: ProofError.self) {
                    try InclusionProof.verify(
                        leafHash: .leaf([1, 2, 3]), index: index, size: size, path: path, root: root
                    )
                }
                if size > 1 {
                    #expect(throws: ProofError.self) {
                        try InclusionProof.verify(leafHash: leaf, index: (index + 1) % size, size: size, path: path, root: root)
                    }
                }
            }
        }
    }

    @Test func everyConsistencyProofVerifies() throws {
        for new in UInt64(0)...40 {
            let newRoot = try Self.tree.root(size: new)
            for old in 0...new {
                let oldRoot = try Self.tree.root(size: old)
                let proof = try ConsistencyProof.make(oldSize: old, newSize: new, from: Self.tree)
                try ConsistencyProof.verify(oldSize: old, newSize: new, oldRoot: oldRoot, newRoot: newRoot, proof: proof)
                if old > 0 && old < new {
                    // A rewritten history: the old root of another tree of the same size.
                    let other = MemoryTree(entries: Self.entries.prefix(Int(old)).map { $0 + [0] })
                    #expect(throws: ProofError.self) {
                        try ConsistencyProof.verify(
                            oldSize: old, newSize: new, oldRoot: try other.root(size: old), newRoot: newRoot, proof: proof
                        )
                    }
                }
            }
        }
    }

    @Test func edgeCases() throws {
        // Size 0 and equal sizes need no proof; anything else in them is refused.
        #expect(try ConsistencyProof.make(oldSize: 0, newSize: 5, from: Self.tree).isEmpty)
        #expect(try ConsistencyProof.make(oldSize: 5, newSize: 5, from: Self.tree).isEmpty)
        let root5 = try Self.tree.root(size: 5)
        try ConsistencyProof.verify(oldSize: 5, newSize: 5, oldRoot: root5, newRoot: root5, proof: [])
        try ConsistencyProof.verify(oldSize: 0, newSize: 5, oldRoot: .empty, newRoot: root5, proof: [])
        #expect(throws: ProofError.self) {
            try ConsistencyProof.verify(oldSize: 5, newSize: 5, oldRoot: root5, newRoot: .empty, proof: [])
        }
        #expect(throws: ProofError.self) {
            try ConsistencyProof.verify(oldSize: 5, newSize: 4, oldRoot: root5, newRoot: root5, proof: [])
        }
        #expect(throws: ProofError.self) { try ConsistencyProof.make(oldSize: 6, newSize: 5, from: Self.tree) }
        #expect(throws: ProofError.self) { try InclusionProof.make(index: 5, size: 5, from: Self.tree) }
        // A proof of the wrong length is refused, not read past.
        let path = try InclusionProof.make(index: 2, size: 9, from: Self.tree)
        let root9 = try Self.tree.root(size: 9)
        let leaf = TreeHash.leaf(Self.entries[2])
        #expect(throws: ProofError.self) {
            try InclusionProof.verify(leafHash: leaf, index: 2, size: 9, path: path + [root9], root: root9)
        }
        #expect(throws: ProofError.self) {
            try InclusionProof.verify(leafHash: leaf, index: 2, size: 9, path: Array(path.dropLast()), root: root9)
        }
        // A single leaf is its own root.
        try InclusionProof.verify(leafHash: .leaf(Self.entries[0]), index: 0, size: 1, path: [], root: try Self.tree.root(size: 1))
    }
}
