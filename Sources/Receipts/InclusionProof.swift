/// RFC 9162 §2.1.3: proofs that a leaf is in a tree, made and checked.
public enum InclusionProof {
    /// The audit path of leaf `index` in the tree of the first `size` leaves (RFC 9162 §2.1.3.1).
    public static func make(index: UInt64, size: UInt64, from source: some NodeHashSource) throws -> [TreeHash] {
        guard index < size else { throw ProofError("leaf \(index) is not in a tree of \(size) leaves") }
        var path: [TreeHash] = []
        try collect(index, 0, size, source, into: &path)
        return path
    }

    // PATH(m, D[start:end]): the sibling hashes from the leaf up, so the recursion appends after
    // descending.
    private static func collect(
        _ index: UInt64, _ start: UInt64, _ end: UInt64, _ source: some NodeHashSource, into path: inout [TreeHash]
    ) throws {
        let count = end - start
        guard count > 1 else { return }
        let k = MerkleMath.split(count)
        if index - start < k {
            try collect(index, start, start + k, source, into: &path)
            path.append(try source.rangeHash(start + k, end))
        } else {
            try collect(index, start + k, end, source, into: &path)
            path.append(try source.rangeHash(start, start + k))
        }
    }

    /// The root that `path` gives for leaf `index` with hash `leafHash` in a tree of `size`
    /// leaves (RFC 9162 §2.1.3.2); throws when the path has the wrong length for the position.
    public static func root(leafHash: TreeHash, index: UInt64, size: UInt64, path: [TreeHash]) throws -> TreeHash {
        guard index < size else { throw ProofError("leaf index \(index) is not below the tree size \(size)") }
        var fn = index
        var sn = size - 1
        var result = leafHash
        for sibling in path {
            guard sn != 0 else { throw ProofError("the inclusion proof has more hashes than a tree of \(size) needs") }
            if fn & 1 == 1 || fn == sn {
                result = TreeHash.node(sibling, result)
                if fn & 1 == 0 {
                    while fn & 1 == 0 && fn != 0 {
                        fn >>= 1
                        sn >>= 1
                    }
                }
            } else {
                result = TreeHash.node(result, sibling)
            }
            fn >>= 1
            sn >>= 1
        }
        guard sn == 0 else { throw ProofError("the inclusion proof has fewer hashes than a tree of \(size) needs") }
        return result
    }

    /// Throws unless `path` proves leaf `index` (hash `leafHash`) is in the tree of `size` leaves with `root`.
    public static func verify(leafHash: TreeHash, index: UInt64, size: UInt64, path: [TreeHash], root: TreeHash) throws {
        let computed = try Self.root(leafHash: leafHash, index: index, size: size, path: path)
        guard computed == root else {
            throw ProofError("the inclusion proof of leaf \(index) gives root \(computed), not the tree's \(root)")
        }
    }
}
