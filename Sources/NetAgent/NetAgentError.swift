/// A failure of popnetd: what it attempted, on what, and what to do.
public struct NetAgentError: Error, CustomStringConvertible, Sendable {
    /// The explanation.
    public let message: String

    /// Creates an error.
    public init(_ message: String) { self.message = message }

    public var description: String { message }
}
