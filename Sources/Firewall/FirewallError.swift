import Netlink

/// A firewall operation that failed: either the request was refused before anything was sent
/// (a bad policy or address), or the kernel refused it (the whole batch was then rolled back).
public enum FirewallError: Error, Sendable, CustomStringConvertible {
    /// The policy was refused before anything was sent.
    case policy(FirewallPolicyError)
    /// The kernel refused a request; the error names the message and carries extack text.
    case netlink(NetlinkError)
    /// A request that makes no sense, refused before anything was sent.
    case invalidRequest(String)

    public var description: String {
        switch self {
        case .policy(let error): error.description
        case .netlink(let error): error.description
        case .invalidRequest(let text): text
        }
    }
}
