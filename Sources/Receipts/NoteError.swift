/// A signed note or key that is malformed or does not verify; `reason` says which and why.
public struct NoteError: Error, Equatable, Sendable, CustomStringConvertible {
    public let reason: String

    public init(_ reason: String) {
        self.reason = reason
    }

    public var description: String { reason }
}
