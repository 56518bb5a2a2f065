import Addressing

extension FirewallPolicy {
    /// The table name popgate owns; nothing else in the ruleset is touched.
    public static let tableName = "popgate"
    /// The sets of edge peer addresses allowed to the API port.
    public static let peerSetV4 = "edge_peers_v4"
    /// The IPv6 peer set.
    public static let peerSetV6 = "edge_peers_v6"

    /// The policy as nftables objects. Call ``validate()`` first: rendering assumes valid fields.
    public var table: TableSpec {
        TableSpec(
            name: Self.tableName,
            chains: [
                .init(name: "input", hook: 1, priority: 0, rules: inputRules),
                .init(name: "forward", hook: 2, priority: 0, rules: []),
                .init(name: "output", hook: 3, priority: 0, rules: outputRules),
            ],
            sets: [.init(name: Self.peerSetV4, ipv6: false), .init(name: Self.peerSetV6, ipv6: true)]
        )
    }

    // IPv6 does not work without neighbour solicitations and advertisements on every link;
    // they never leave the link (hop limit 255), so accepting them opens nothing beyond it.
    private static let neighbourDiscovery = [RuleSpec([.icmpv6Type(135)]), RuleSpec([.icmpv6Type(136)])]

    private var inputRules: [RuleSpec] {
        var rules = [RuleSpec([.inputInterface("lo")]), RuleSpec([.establishedOrRelated])] + Self.neighbourDiscovery
        for port in uplink.wireGuardPorts {
            rules.append(RuleSpec([.inputInterface(uplink.interface), .transport(.udp, sourcePort: nil, destinationPort: UInt16(port))]))
        }
        let api = RuleSpec.Match.transport(.tcp, sourcePort: nil, destinationPort: UInt16(edge.apiPort))
        if let address = edge.apiAddress {
            let ipv6 = !address.isV4
            rules.append(RuleSpec([
                .inputInterface(edge.interface), .sourceInSet(ipv6 ? Self.peerSetV6 : Self.peerSetV4, ipv6: ipv6),
                .destinationPrefix(IPPrefix(address: address, length: address.bitWidth)!), api,
            ]))
        } else {
            rules.append(RuleSpec([.inputInterface(edge.interface), .sourceInSet(Self.peerSetV4, ipv6: false), api]))
            rules.append(RuleSpec([.inputInterface(edge.interface), .sourceInSet(Self.peerSetV6, ipv6: true), api]))
        }
        if let management {
            for prefix in management.allowedPrefixes {
                for port in management.ports {
                    rules.append(RuleSpec([
                        .inputInterface(management.interface), .sourcePrefix(prefix),
                        .transport(.tcp, sourcePort: nil, destinationPort: UInt16(port)),
                    ]))
                }
            }
        }
        return rules
    }

    private var outputRules: [RuleSpec] {
        var rules = [RuleSpec([.outputInterface("lo")]), RuleSpec([.establishedOrRelated])] + Self.neighbourDiscovery
        // WireGuard sends handshakes and data from its listen port, also to roaming peers
        // whose first packet conntrack has not seen.
        for port in uplink.wireGuardPorts {
            rules.append(RuleSpec([.outputInterface(uplink.interface), .transport(.udp, sourcePort: UInt16(port), destinationPort: nil)]))
        }
        if let backbone {
            for prefix in backbone.workerPrefixes {
                for port in backbone.ports {
                    rules.append(RuleSpec([
                        .outputInterface(backbone.interface), .destinationPrefix(prefix),
                        .transport(.tcp, sourcePort: nil, destinationPort: UInt16(port)),
                    ]))
                }
            }
        }
        for allowance in outputAllowances {
            rules.append(RuleSpec([
                .outputInterface(allowance.interface), .destinationPrefix(allowance.destination),
                .transport(allowance.transport, sourcePort: nil, destinationPort: UInt16(allowance.port)),
            ]))
        }
        return rules
    }
}
