/// A failure talking to a WireGuard device, or a malformed config.
public struct WireGuardError: Error, CustomStringConvertible, Sendable, Equatable {
    /// What was attempted, on which interface, the errno when there is one, and what to do.
    public let message: String
    /// The errno reported by the system or the device, when there is one.
    public let errno: Int32?

    /// Creates an error.
    public init(_ message: String, errno: Int32? = nil) {
        self.message = message
        self.errno = errno
    }

    public var description: String { message }
}
