/// A key's own allowance, below its tier's (`[limits]` in popgate.toml): for a tenant that hands one
/// key to a script that must not eat the whole tier's allowance. Nil fields leave the tier's limit.
public struct APIKeyLimits: Sendable, Equatable, Hashable, Codable {
    /// Requests per minute, at most.
    public var requestsPerMinute: Int?
    /// Prompt plus completion tokens per minute, at most.
    public var tokensPerMinute: Int?

    public init(requestsPerMinute: Int? = nil, tokensPerMinute: Int? = nil) {
        self.requestsPerMinute = requestsPerMinute
        self.tokensPerMinute = tokensPerMinute
    }

    /// No limits of its own.
    public static let none = APIKeyLimits()

    /// Refuses a limit that is not a positive whole number: zero would lock the key out, which is
    /// what revoking it is for.
    func validate() throws(RegistryError) {
        for (value, option) in [(requestsPerMinute, "--requests-per-minute"), (tokensPerMinute, "--tokens-per-minute")] {
            if let value, value <= 0 {
                throw RegistryError(
                    .invalidArgument,
                    "\(option) \(value) is not a positive number; leave it out to keep the tier's limit, or revoke "
                        + "the key to stop it"
                )
            }
        }
    }
}
