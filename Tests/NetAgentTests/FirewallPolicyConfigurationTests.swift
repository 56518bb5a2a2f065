import Addressing
import Firewall
import Foundation
import NetAgent
import PopConfig
import Testing

@Suite struct FirewallPolicyConfigurationTests {
    static let text = PopConfigurationTests_valid + """

        [firewall]
        uplink_interface = "eth0"
        backbone_interface = "bb0"
        management_interface = "mgmt0"
        management_prefixes = ["192.0.2.0/24"]
        """

    func settings(_ configuration: PopConfiguration) throws -> FirewallSettings {
        guard case .enabled(let settings) = configuration.firewall else { throw NetAgentError("not enabled") }
        return settings
    }

    @Test func portsAndWorkersComeFromTheRestOfTheConfiguration() throws {
        let configuration = try PopConfiguration.parse(Self.text)
        let policy = try FirewallPolicy(try settings(configuration), configuration: configuration)
        #expect(policy.uplink == .init(interface: "eth0", wireGuardPorts: [51820]))
        #expect(policy.edge == .init(interface: "wg-edge", apiPort: 8080, apiAddress: IPAddress("10.77.0.1")))
        let apiRule = policy.table.chains.first { $0.name == "input" }?.rules.map(\.nftText).filter { $0.contains("8080") }
        #expect(apiRule == [#"iifname "wg-edge" ip saddr @edge_peers_v4 ip daddr 10.77.0.1 tcp dport 8080 accept"#])
        #expect(policy.backbone == .init(
            interface: "bb0", workerPrefixes: [IPPrefix("10.99.0.2/32")!, IPPrefix("10.99.0.6/32")!], ports: [8000]
        ))
        #expect(policy.management == .init(interface: "mgmt0", allowedPrefixes: [IPPrefix("192.0.2.0/24")!], ports: [22]))
    }

    @Test func aPostgreSQLRegistryIsReachableOverTheBackboneAndNothingMore() throws {
        let configuration = try PopConfiguration.parse(
            "[registry]\nurl = \"postgres://popgate@10.98.0.1:5432/fleet\"\n" + Self.text
        )
        let policy = try FirewallPolicy(try settings(configuration), configuration: configuration)
        #expect(policy.outputAllowances == [
            .init(interface: "bb0", destination: IPPrefix("10.98.0.1/32")!, transport: .tcp, port: 5432),
        ])
        let named = try PopConfiguration.parse("[registry]\nurl = \"postgres://popgate@db.internal/fleet\"\n" + Self.text)
        #expect {
            try FirewallPolicy(try settings(named), configuration: named)
        } throws: { error in
            (error as? NetAgentError)?.message.contains("registry.url") == true
        }
    }

    @Test func aBackendNamedByHostNameIsRefusedWithItsKey() throws {
        let configuration = try PopConfiguration.parse(
            Self.text.replacingOccurrences(of: "http://10.99.0.6:8000/", with: "http://gpu-2.internal:8000")
        )
        #expect {
            try FirewallPolicy(try settings(configuration), configuration: configuration)
        } throws: { error in
            "\(error)".contains("backends[1].url") && "\(error)".contains("IP address")
        }
    }

    @Test func anInterfaceThisNodeLacksIsNamed() throws {
        let configuration = try PopConfiguration.parse(Self.text)
        let policy = try FirewallPolicy(try settings(configuration), configuration: configuration)
        #expect {
            try policy.checkInterfacesExist()
        } throws: { error in
            // This machine has no eth0 in the test's namespace, or it has: then bb0 or mgmt0 is missing.
            "\(error)".contains("firewall.") && "\(error)".contains("no such network interface")
        }
    }
}

/// The same valid base configuration as PopConfigTests uses (test targets cannot import each other).
let PopConfigurationTests_valid = """
    [pop]
    name = "pop-zrh-1"

    [wireguard]
    interface = "wg-edge"
    address = "10.77.0.1/24"
    endpoint = "198.51.100.1:51820"

    [gateway]
    listen_port = 8080

    [[backends]]
    name = "gpu-1"
    url = "http://10.99.0.2:8000"
    models = ["m-small", "m-large"]

    [[backends]]
    name = "gpu-2"
    url = "http://10.99.0.6:8000/"
    models = ["m-large"]
    """
