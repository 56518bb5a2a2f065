import Addressing

/// How the live table differs from the intended one. Empty means identical.
///
/// Structural differences (table, chains, rules, set definitions) need the whole table
/// replaced; element differences alone are repaired element by element.
public struct FirewallDrift: Hashable, Sendable, CustomStringConvertible {
    /// Differences that need the table replaced, in words ("chain input: rule 3 differs").
    public var structural: [String] = []
    /// Intended peer addresses the live sets lack.
    public var missingElements: [IPAddress] = []
    /// Live peer addresses that are not intended (e.g. a revoked peer still allowed).
    public var extraElements: [IPAddress] = []

    public var isEmpty: Bool { structural.isEmpty && missingElements.isEmpty && extraElements.isEmpty }

    public var description: String {
        if isEmpty { return "no drift" }
        var parts = structural
        if !missingElements.isEmpty { parts.append("\(missingElements.count) peer address(es) missing, e.g. \(missingElements.min()!)") }
        if !extraElements.isEmpty { parts.append("\(extraElements.count) unexpected peer address(es), e.g. \(extraElements.min()!)") }
        return parts.joined(separator: "; ")
    }

    /// Compares `live` (nil: the table does not exist) with `intended` and `peers`. Pure.
    public static func compare(live: LiveTable?, intended: TableSpec, peers: Set<IPAddress>) -> FirewallDrift {
        var drift = FirewallDrift()
        guard let live else {
            drift.structural.append("table inet \(intended.name) does not exist")
            drift.missingElements = Array(peers)
            return drift
        }
        for chain in intended.chains {
            guard let found = live.chains[chain.name] else {
                drift.structural.append("chain \(chain.name) is missing")
                continue
            }
            if found.type != "filter" || found.hook != chain.hook || found.priority != chain.priority || found.policy != 0 {
                drift.structural.append("chain \(chain.name) is not a filter hook \(chain.hook) priority \(chain.priority) chain with policy drop")
            }
            let wanted = chain.rules.map { $0.expressions.map(\.description) }
            if found.rules.count != wanted.count {
                drift.structural.append("chain \(chain.name) has \(found.rules.count) rules; expected \(wanted.count)")
            } else if let index = wanted.indices.first(where: { found.rules[$0] != wanted[$0] }) {
                drift.structural.append("chain \(chain.name): rule \(index + 1) differs (\(chain.rules[index].nftText))")
            }
        }
        for name in live.chains.keys.sorted() where !intended.chains.contains(where: { $0.name == name }) {
            drift.structural.append("chain \(name) is not part of the policy")
        }
        var liveElements = Set<IPAddress>()
        for set in intended.sets {
            guard let found = live.sets[set.name] else {
                drift.structural.append("set \(set.name) is missing")
                continue
            }
            if found.keyType != set.keyType || found.keyLength != set.keyLength || found.flags != 0 {
                drift.structural.append("set \(set.name) is not a plain \(set.ipv6 ? "ipv6_addr" : "ipv4_addr") set")
            }
            liveElements.formUnion(found.elements)
        }
        for name in live.sets.keys.sorted() where !intended.sets.contains(where: { $0.name == name }) {
            drift.structural.append("set \(name) is not part of the policy")
        }
        drift.missingElements = Array(peers.subtracting(liveElements))
        drift.extraElements = Array(liveElements.subtracting(peers))
        return drift
    }
}
