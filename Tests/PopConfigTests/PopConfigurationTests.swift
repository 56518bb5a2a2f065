import Foundation
import Addressing
import PopConfig
import RegistryLocations
import Testing

@Suite struct PopConfigurationTests {
    static let valid = """
        [pop]
        name = "pop-zrh-1"

        [registry]
        path = "/var/lib/popgate/registry.sqlite"

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

    @Test func readsAValidFileAndFillsDefaults() throws {
        let config = try PopConfiguration.parse(Self.valid)
        #expect(config.popName == "pop-zrh-1")
        #expect(config.wireguard.pool == IPPrefix("10.77.0.0/24"))
        #expect(config.wireguard.listenPort == 51820)
        #expect(config.wireguard.presharedKeys)
        #expect(config.wireguard.privateKeyFile == "/etc/popgate/keys/wg-edge.key")
        #expect(config.gateway.listenPort == 8080)
        #expect(config.netd.runDirectory == "/run/popgate")
        #expect(config.backends.map(\.name) == ["gpu-1", "gpu-2"])
        #expect(config.backends[1].url == "http://10.99.0.6:8000")
    }

    static let broken: [(String, String, String?, Int?, String)] = [
        ("listen_port = 8080", "listen_port = 80800", "gateway.listen_port", 13, "out of range"),
        ("address = \"10.77.0.1/24\"", "address = \"10.77.0.1/99\"", "wireguard.address", 9, "CIDR"),
        ("interface = \"wg-edge\"", "interface = \"wg-edge\"\nlisten_prot = 1", "wireguard.listen_prot", 9, "unknown key"),
        ("url = \"http://10.99.0.6:8000/\"", "url = \"ftp://x\"", "backends[1].url", 22, "http"),
        ("endpoint = \"198.51.100.1:51820\"", "endpoint = \"198.51.100.1\"", "wireguard.endpoint", 10, "HOST:PORT"),
        ("listen_port = 8080", "listen_port = \"8080\"", "gateway.listen_port", 13, "expected an integer"),
        ("name = \"gpu-2\"", "name = \"gpu-1\"", "backends[1].name", 21, "unique"),
        ("[pop]", "[pop", nil, 1, "TOML syntax"),
        ("path = \"/var/lib/popgate/registry.sqlite\"", "path = \"/r.sqlite\"\nurl = \"postgres://u@db/r\"",
         "registry.url", 6, "not both"),
        ("path = \"/var/lib/popgate/registry.sqlite\"", "url = \"postgres://u:pw@db/r\"", "registry.url", 5,
         "password_file"),
        ("path = \"/var/lib/popgate/registry.sqlite\"", "password_file = \"/etc/popgate/db.password\"",
         "registry.password_file", 5, "PostgreSQL"),
    ]

    @Test func anIPv6PoolOfAnyLengthIsAccepted() throws {
        let text = Self.valid.replacingOccurrences(of: "address = \"10.77.0.1/24\"", with: "address = \"fd00:77::1/64\"")
        let config = try PopConfiguration.parse(text)
        #expect(config.wireguard.pool == IPPrefix("fd00:77::/64"))
        #expect(config.wireguard.pool.clientAddresses.address(at: 0) == IPAddress("fd00:77::1"))
        #expect {
            try PopConfiguration.parse(text.replacingOccurrences(
                of: "address = \"fd00:77::1/64\"", with: "address = \"fd00:77::1/64\"\npool = \"10.77.0.0/24\""
            ))
        } throws: { error in
            "\(error)".contains("different IP versions")
        }
    }

    @Test func aPostgreSQLRegistryIsReadFromItsURL() throws {
        let text = Self.valid.replacingOccurrences(
            of: "path = \"/var/lib/popgate/registry.sqlite\"",
            with: "url = \"postgres://popgate@db.internal:6432/fleet\"\npassword_file = \"/etc/popgate/db.password\""
        )
        let config = try PopConfiguration.parse(text)
        guard case .postgres(let location) = config.registry.location else {
            Issue.record("expected a PostgreSQL registry, got \(config.registry.location)")
            return
        }
        #expect(location.description == "postgres://popgate@db.internal:6432/fleet")
        #expect(location.passwordFile == "/etc/popgate/db.password")
    }

    @Test(arguments: broken)
    func errorsNameTheKeyAndLine(_ replace: (String, String, String?, Int?, String)) {
        let text = Self.valid.replacingOccurrences(of: replace.0, with: replace.1)
        do {
            _ = try PopConfiguration.parse(text, path: "/etc/popgate/popgate.toml")
            Issue.record("expected an error for \(replace.1)")
        } catch {
            #expect(error.key == replace.2)
            #expect(error.line == replace.3)
            #expect(error.message.contains(replace.4), "\(error)")
            #expect("\(error)".hasPrefix("/etc/popgate/popgate.toml:"))
        }
    }

    @Test func aConfigWithoutBackendsIsRefused() {
        let text = Self.valid.components(separatedBy: "[[backends]]")[0]
        #expect(throws: ConfigError.self) { try PopConfiguration.parse(text) }
    }

    @Test func aMissingFileSaysHowToPointAtOne() {
        do {
            _ = try PopConfiguration.load(path: "/nonexistent/popgate.toml")
            Issue.record("expected an error")
        } catch {
            #expect(error.message.contains("does not exist"))
            #expect(error.message.contains("POPGATE_CONFIG"))
        }
    }

    @Test func thePathComesFromTheOptionThenTheEnvironment() {
        #expect(PopConfiguration.resolvePath(explicit: "/a", environment: ["POPGATE_CONFIG": "/b"]) == "/a")
        #expect(PopConfiguration.resolvePath(explicit: nil, environment: ["POPGATE_CONFIG": "/b"]) == "/b")
        #expect(PopConfiguration.resolvePath(explicit: nil, environment: [:]) == "/etc/popgate/popgate.toml")
    }
}
