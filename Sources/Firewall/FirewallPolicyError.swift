/// A policy that cannot be rendered: names the field, the value, and what to do. Raised before
/// anything is sent to the kernel, so a refused policy changes nothing.
public struct FirewallPolicyError: Error, Hashable, Sendable, CustomStringConvertible {
    /// The field, e.g. `management.allowedPrefixes[1]`.
    public var field: String
    /// What is wrong and what to do.
    public var problem: String

    public var description: String { "firewall policy: \(field): \(problem); nothing was changed" }
}
