/// RFC 9162 §2.1.4: proofs that a tree is an append-only extension of an older one, made and
/// checked.
public enum ConsistencyProof {
    /// The proof between the trees of the first `oldSize` and `newSize` leaves (RFC 9162
    /// §2.1.4.1). Empty when the sizes are equal or the old tree is empty: nothing needs proving.
    public static func make(oldSize: UInt64, newSize: UInt64, from source: some NodeHashSource) throws -> [TreeHash] {
        guard oldSize <= newSize else {
            throw ProofError("a tree of \(newSize) leaves cannot extend one of \(oldSize): sizes must not shrink")
        }
        guard oldSize > 0, oldSize < newSize else { return [] }
        var proof: [TreeHash] = []
        try subproof(oldSize, 0, newSize, true, source, into: &proof)
        return proof
    }

    // SUBPROOF(m, D[start:end], b); `m` counts leaves from `start`.
    private static func subproof(
        _ m: UInt64, _ start: UInt64, _ end: UInt64, _ isWholeOldTree: Bool, _ source: some NodeHashSource,
        into proof: inout [TreeHash]
    ) throws {
        let count = end - start
        if m == count {
            if !isWholeOldTree { proof.append(try source.rangeHash(start, end)) }
            return
        }
        let k = MerkleMath.split(count)
        if m <= k {
            try subproof(m, start, start + k, isWholeOldTree, source, into: &proof)
            proof.append(try source.rangeHash(start + k, end))
        } else {
            try subproof(m - k, start + k, end, false, source, into: &proof)
            proof.append(try source.rangeHash(start, start + k))
        }
    }

    /// Throws unless `proof` shows the tree of `newSize` leaves with `newRoot` extends the tree of
    /// `oldSize` leaves with `oldRoot` (RFC 9162 §2.1.4.2), saying what failed.
    public static func verify(
        oldSize: UInt64, newSize: UInt64, oldRoot: TreeHash, newRoot: TreeHash, proof: [TreeHash]
    ) throws {
        guard oldSize <= newSize else {
            throw ProofError("the newer tree (\(newSize) leaves) is smaller than the older (\(oldSize)): a log never shrinks")
        }
        if oldSize == newSize {
            guard proof.isEmpty else { throw ProofError("trees of equal size need an empty consistency proof") }
            guard oldRoot == newRoot else {
                throw ProofError("two trees of \(oldSize) leaves have different roots (\(oldRoot), \(newRoot)): the history was rewritten")
            }
            return
        }
        if oldSize == 0 {
            guard proof.isEmpty else { throw ProofError("the empty tree needs an empty consistency proof") }
            guard oldRoot == .empty else { throw ProofError("a tree of 0 leaves must have the empty root") }
            return
        }
        guard !proof.isEmpty else { throw ProofError("the consistency proof from \(oldSize) to \(newSize) is empty") }
        var path = proof
        if oldSize & (oldSize - 1) == 0 { path.insert(oldRoot, at: 0) }
        var fn = oldSize - 1
        var sn = newSize - 1
        while fn & 1 == 1 {
            fn >>= 1
            sn >>= 1
        }
        var fr = path[0]
        var sr = path[0]
        for c in path.dropFirst() {
            guard sn != 0 else { throw ProofError("the consistency proof has more hashes than needed") }
            if fn & 1 == 1 || fn == sn {
                fr = TreeHash.node(c, fr)
                sr = TreeHash.node(c, sr)
                if fn & 1 == 0 {
                    while fn & 1 == 0 && fn != 0 {
                        fn >>= 1
                        sn >>= 1
                    }
                }
            } else {
                sr = TreeHash.node(sr, c)
            }
            fn >>= 1
            sn >>= 1
        }
        guard sn == 0 else { throw ProofError("the consistency proof has fewer hashes than needed") }
        guard fr == oldRoot else {
            throw ProofError("the proof does not lead to the older root \(oldRoot): the tree of \(oldSize) leaves is not a prefix of the newer one")
        }
        guard sr == newRoot else {
            throw ProofError("the proof does not lead to the newer root \(newRoot)")
        }
    }
}
