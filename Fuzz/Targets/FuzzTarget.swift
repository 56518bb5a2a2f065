import Foundation

/// One fuzz target: a parser that meets untrusted or foreign bytes, driven the way production code
/// drives it, with the invariants that are cheap to check. A violated invariant is a crash
/// (``FuzzCheck/require(_:_:)``), which libFuzzer reports like any other.
public struct FuzzTarget: Sendable {
    /// The name `POPGATE_FUZZ_TARGET` selects, which is also its corpus directory (`Fuzz/corpus/<name>`).
    public let name: String
    /// One line: what the target drives.
    public let summary: String
    /// Runs one input. Must not keep anything from it: libFuzzer runs millions in one process.
    public let run: @Sendable (UnsafeRawBufferPointer) -> Void

    public init(name: String, summary: String, run: @escaping @Sendable (UnsafeRawBufferPointer) -> Void) {
        self.name = name
        self.summary = summary
        self.run = run
    }

    /// Runs one input given as an array (the corpus replay in the unit tests).
    public func run(_ bytes: [UInt8]) {
        bytes.withUnsafeBytes { run($0) }
    }
}

extension FuzzTarget {
    /// Every target, in the order `fuzz.sh` runs them.
    public static let all: [FuzzTarget] = [
        HTTPRequestTarget.target,
        RequestBodyTarget.target,
        UpstreamSSETarget.target,
        UpstreamJSONTarget.target,
        ModelListingTarget.target,
        WorkerMetricsTarget.target,
        WGQuickTarget.target,
        PopConfigTarget.target,
        NetlinkReplyTarget.target,
        FirewallReplyTarget.target,
        UAPIReplyTarget.target,
        PeerImportTarget.target,
        ReceiptEntryTarget.target,
        EntryBundleTarget.target,
        SignedCheckpointTarget.target,
        ReceiptFileTarget.target,
        MerkleProofTarget.target,
    ]

    /// The target called `name`, if there is one.
    public static func named(_ name: String) -> FuzzTarget? {
        all.first { $0.name == name }
    }

    /// The list a user who named no target, or a wrong one, is shown.
    public static var catalogue: String {
        let width = all.map(\.name.count).max() ?? 0
        return all.map { "  " + $0.name.padding(toLength: width, withPad: " ", startingAt: 0) + "  " + $0.summary }
            .joined(separator: "\n")
    }
}
