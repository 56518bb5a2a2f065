/// The shape of RFC 9162 trees: where a range of leaves is split, and which ranges are perfect
/// subtrees.
enum MerkleMath {
    /// The largest power of two strictly less than `count` (`count` ≥ 2): RFC 9162's `k`.
    static func split(_ count: UInt64) -> UInt64 {
        precondition(count >= 2)
        return 1 << (63 - (count - 1).leadingZeroBitCount)
    }

    /// Whether `count` leaves starting at `start` form one perfect subtree.
    static func isPerfect(start: UInt64, count: UInt64) -> Bool {
        count > 0 && count & (count - 1) == 0 && start % count == 0
    }

    /// log2 of a power of two.
    static func height(ofPerfect count: UInt64) -> Int {
        count.trailingZeroBitCount
    }
}
