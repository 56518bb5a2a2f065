import PopConfig
import Testing

/// `[gateway] upstream_idle_timeout_s`: how long a worker may stay silent while an answer is due.
@Suite struct UpstreamIdleTimeoutTests {
    static func configuration(gateway line: String) -> String {
        """
        [pop]
        name = "pop-zrh-1"

        [registry]
        path = "/var/lib/popgate/registry.sqlite"

        [wireguard]
        interface = "wg-edge"
        address = "10.77.0.1/24"
        endpoint = "198.51.100.1:51820"

        [gateway]
        \(line)

        [[backends]]
        name = "gpu-1"
        url = "http://10.99.0.2:8000"
        models = ["m-small"]
        """
    }

    @Test func itDefaultsToFiveMinutesSoALongNonStreamedAnswerIsNotCut() throws {
        let config = try PopConfiguration.parse(Self.configuration(gateway: "listen_port = 8080"))
        #expect(config.gateway.upstreamIdleTimeoutSeconds == 300)
    }

    @Test func itIsReadInSeconds() throws {
        let config = try PopConfiguration.parse(Self.configuration(gateway: "upstream_idle_timeout_s = 2"))
        #expect(config.gateway.upstreamIdleTimeoutSeconds == 2)
    }

    @Test(arguments: [
        ("upstream_idle_timeout_s = 0", "out of range; use a value from 1 to 3600"),
        ("upstream_idle_timeout_s = 3601", "out of range; use a value from 1 to 3600"),
        ("upstream_idle_timeout_s = \"60s\"", "expected an integer"),
    ])
    func aBadValueIsRefusedNamingTheKeyAndLine(_ line: String, _ message: String) {
        #expect {
            try PopConfiguration.parse(Self.configuration(gateway: line), path: "/etc/popgate/popgate.toml")
        } throws: { error in
            guard let error = error as? ConfigError else { return false }
            return error.key == "gateway.upstream_idle_timeout_s" && error.line == 13 && error.message.contains(message)
        }
    }
}
