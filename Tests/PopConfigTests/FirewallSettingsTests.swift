import Addressing
import PopConfig
import Testing

@Suite struct FirewallSettingsTests {
    func parse(_ firewall: String) throws(ConfigError) -> PopConfiguration {
        try PopConfiguration.parse(PopConfigurationTests.valid + "\n\n[firewall]\n" + firewall, path: "/etc/popgate/popgate.toml")
    }

    @Test func withoutTheSectionTheFirewallIsUnconfigured() throws {
        #expect(try PopConfiguration.parse(PopConfigurationTests.valid).firewall == .unconfigured)
        #expect(try parse("enabled = false").firewall == .disabled)
    }

    @Test func aFullSectionIsRead() throws {
        let config = try parse("""
            uplink_interface = "eth0"
            backbone_interface = "bb0"
            management_interface = "mgmt0"
            management_prefixes = ["192.0.2.0/24", "2001:db8::/32"]
            management_ports = [22, 9100]
            verify_interval_s = 5
            """)
        let expected = FirewallSettings(
            uplinkInterface: "eth0", backboneInterface: "bb0",
            management: .init(
                interface: "mgmt0", prefixes: [IPPrefix("192.0.2.0/24")!, IPPrefix("2001:db8::/32")!], ports: [22, 9100]
            ),
            verifyIntervalSeconds: 5
        )
        #expect(config.firewall == .enabled(expected))
        #expect(try parse("uplink_interface = \"eth0\"\nbackbone_interface = \"bb0\"").firewall == .enabled(
            FirewallSettings(uplinkInterface: "eth0", backboneInterface: "bb0", management: nil, verifyIntervalSeconds: 10)
        ))
    }

    static let broken: [(String, String, String)] = [
        ("backbone_interface = \"bb0\"", "firewall.uplink_interface", "is required"),
        ("uplink_interface = \"eth0\"", "firewall.backbone_interface", "is required"),
        ("uplink_interface = \"this-name-is-too-long\"\nbackbone_interface = \"bb0\"", "firewall.uplink_interface",
         "not a valid interface name"),
        ("uplink_interface = \"eth0\"\nbackbone_interface = \"bb0\"\nmanagement_interface = \"m0\"\n"
            + "management_prefixes = [\"192.0.2.1/24\"]", "firewall.management_prefixes", "no host bits"),
        ("uplink_interface = \"eth0\"\nbackbone_interface = \"bb0\"\nmanagement_interface = \"m0\"\n"
            + "management_prefixes = [\"192.0.2.0/33\"]", "firewall.management_prefixes", "not a network prefix"),
        ("uplink_interface = \"eth0\"\nbackbone_interface = \"bb0\"\nmanagement_interface = \"m0\"",
         "firewall.management_prefixes", "list the networks"),
        ("uplink_interface = \"eth0\"\nbackbone_interface = \"bb0\"\nmanagement_prefixes = [\"192.0.2.0/24\"]",
         "firewall.management_interface", "is required when"),
        ("uplink_interface = \"eth0\"\nbackbone_interface = \"bb0\"\nmanagement_interface = \"m0\"\n"
            + "management_prefixes = [\"192.0.2.0/24\"]\nmanagement_ports = [0]", "firewall.management_ports",
         "out of range"),
        ("uplink_interface = \"eth0\"\nbackbone_interface = \"bb0\"\nuplink = \"eth1\"", "firewall.uplink", "unknown key"),
    ]

    @Test(arguments: broken)
    func errorsNameTheKey(_ case_: (String, String, String)) {
        do {
            _ = try parse(case_.0)
            Issue.record("expected an error for \(case_.0)")
        } catch {
            #expect(error.key == case_.1, "\(error)")
            #expect(error.message.contains(case_.2), "\(error)")
            #expect(error.line != nil || case_.2 == "is required", "\(error)")
        }
    }
}
