import Addressing
import PopConfig
import Testing

@Suite struct MetricsSettingsTests {
    func parse(_ metrics: String) throws(ConfigError) -> PopConfiguration {
        try PopConfiguration.parse(
            PopConfigurationTests.valid + "\n\n[metrics]\n" + metrics, path: "/etc/popgate/popgate.toml"
        )
    }

    @Test func withoutTheSectionNoMetricsAreServed() throws {
        #expect(try PopConfiguration.parse(PopConfigurationTests.valid).metrics == nil)
    }

    @Test func theListenAddressIsRead() throws {
        #expect(try parse("listen = \"192.0.2.1:9100\"").metrics == MetricsSettings(
            listen: SocketEndpoint(host: "192.0.2.1", port: 9100)
        ))
        #expect(try parse("listen = \"[2001:db8::1]:9100\"").metrics?.listen.address == IPAddress("2001:db8::1"))
        #expect(try parse("listen = \"127.0.0.1:9100\"").metrics?.listen.port == 9100)
    }

    // The tunnel in PopConfigurationTests.valid is 10.77.0.1/24.
    static let broken: [(String, String, String)] = [
        ("", "metrics.listen", "is required"),
        ("listen = 9100", "metrics.listen", "expected a string"),
        ("listen = \"192.0.2.1\"", "metrics.listen", "is not HOST:PORT"),
        ("listen = \"192.0.2.1:70000\"", "metrics.listen", "is not HOST:PORT"),
        ("listen = \"mgmt.example.net:9100\"", "metrics.listen", "is not an IP address"),
        ("listen = \"0.0.0.0:9100\"", "metrics.listen", "every address, the tunnel's too"),
        ("listen = \"[::]:9100\"", "metrics.listen", "every address, the tunnel's too"),
        ("listen = \"10.77.0.1:9100\"", "metrics.listen", "is the tunnel address"),
        ("listen = \"10.77.0.9:9100\"", "metrics.listen", "is inside the tunnel"),
        ("listen = \"192.0.2.1:9100\"\nport = 9100", "metrics.port", "unknown key"),
    ]

    @Test(arguments: broken)
    func errorsNameTheKey(_ case_: (String, String, String)) {
        do {
            _ = try parse(case_.0)
            Issue.record("expected an error for \(case_.0)")
        } catch {
            #expect(error.key == case_.1, "\(error)")
            #expect(error.message.contains(case_.2), "\(error)")
        }
    }

    @Test func theTunnelAddressIsRefusedWithTheReason() {
        do {
            _ = try parse("listen = \"10.77.0.1:9100\"")
            Issue.record("the tunnel address was accepted")
        } catch {
            #expect(error.description.hasPrefix("/etc/popgate/popgate.toml:"), "\(error)")
            #expect(error.message.contains("wireguard.address"), "\(error)")
            #expect(error.message.contains("serve them on the management address only"), "\(error)")
        }
    }
}
