import Receipts

/// An entry bundle file of the receipt log (``EntryBundle``), read back when popgated opens its
/// log and by popaudit: a torn or corrupted file is refused, and what is read re-encodes exactly.
enum EntryBundleTarget {
    static let target = FuzzTarget(
        name: "entry-bundle", summary: "a receipt log entry bundle: decode, re-encode byte for byte", run: run
    )

    static func run(_ data: UnsafeRawBufferPointer) {
        let bytes = Array(data)
        guard let entries = try? EntryBundle.decode(bytes) else { return }
        FuzzCheck.require(EntryBundle.encode(entries) == bytes, "a decoded entry bundle encodes to other bytes")
    }
}
