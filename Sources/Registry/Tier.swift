/// A service tier: which hardware serves a request, where it queues, what it costs
/// (the product's four tiers, from batch work on spare capacity to the fastest hardware). Ordered from slowest
/// to fastest.
public enum Tier: String, Sendable, CaseIterable, Codable, Comparable {
    case slow, medium, fast, ludicrous

    /// vLLM's scheduling priority for the tier (vLLM serves lower values first).
    public var vllmPriority: Int {
        switch self {
        case .slow: 1000
        case .medium: 100
        case .fast: 10
        case .ludicrous: 1
        }
    }

    public static func < (lhs: Tier, rhs: Tier) -> Bool {
        allCases.firstIndex(of: lhs)! < allCases.firstIndex(of: rhs)!
    }

    /// Parses a tier name; the error lists the valid ones.
    public static func parse(_ text: String) throws(RegistryError) -> Tier {
        guard let tier = Tier(rawValue: text.lowercased()) else {
            throw RegistryError(
                .invalidArgument, "unknown tier \"\(text)\"; use one of: \(allCases.map(\.rawValue).joined(separator: ", "))"
            )
        }
        return tier
    }
}
