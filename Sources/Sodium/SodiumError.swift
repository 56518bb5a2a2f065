/// A failure of a cryptographic operation or of decoding key material.
///
/// `reason` says what was attempted and what to do; it never contains secret bytes.
public struct SodiumError: Error, CustomStringConvertible, Sendable, Equatable {
    /// What went wrong, for a person.
    public let reason: String

    /// Creates an error with the given explanation.
    public init(_ reason: String) {
        self.reason = reason
    }

    public var description: String { reason }
}
