/// A registry operation that was refused or failed; nothing was changed when this is thrown.
public struct RegistryError: Error, CustomStringConvertible, Sendable, Equatable {
    /// Why it was refused, for scripts.
    public enum Code: String, Sendable {
        case invalidName, duplicate, notFound, poolExhausted, invalidArgument, storage
    }

    /// The kind of failure.
    public let code: Code
    /// What was attempted, what went wrong and what to do.
    public let message: String

    /// Creates an error.
    public init(_ code: Code, _ message: String) {
        self.code = code
        self.message = message
    }

    public var description: String { message }
}
