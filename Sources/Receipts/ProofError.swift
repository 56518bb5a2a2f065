/// A proof that cannot be made (the tree is too small) or does not verify; `reason` says which
/// and why.
public struct ProofError: Error, Equatable, Sendable, CustomStringConvertible {
    public let reason: String

    public init(_ reason: String) {
        self.reason = reason
    }

    public var description: String { reason }
}
