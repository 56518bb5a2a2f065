/// The receipt log cannot be read, written or trusted; `reason` names the file and what to do.
public struct ReceiptLogError: Error, Equatable, Sendable, CustomStringConvertible {
    public let reason: String

    public init(_ reason: String) {
        self.reason = reason
    }

    public var description: String { reason }
}
