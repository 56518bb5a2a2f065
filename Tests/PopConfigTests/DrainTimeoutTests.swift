import PopConfig
import Testing

/// `[gateway] drain_timeout_s`: how long answers in flight may take to end once popgated got SIGTERM.
@Suite struct DrainTimeoutTests {
    typealias Fixture = UpstreamIdleTimeoutTests

    @Test func itDefaultsToThirtySeconds() throws {
        let config = try PopConfiguration.parse(Fixture.configuration(gateway: "listen_port = 8080"))
        #expect(config.gateway.drainTimeoutSeconds == 30)
    }

    @Test(arguments: [0, 1, 3600])
    func itIsReadInSecondsAndZeroCutsAtOnce(_ seconds: Int) throws {
        let config = try PopConfiguration.parse(Fixture.configuration(gateway: "drain_timeout_s = \(seconds)"))
        #expect(config.gateway.drainTimeoutSeconds == seconds)
    }

    @Test(arguments: [
        ("drain_timeout_s = -1", "out of range; use a value from 0 to 3600"),
        ("drain_timeout_s = 3601", "out of range; use a value from 0 to 3600"),
        ("drain_timeout_s = \"30s\"", "expected an integer"),
    ])
    func aBadValueIsRefusedNamingTheKeyAndLine(_ line: String, _ message: String) {
        #expect {
            try PopConfiguration.parse(Fixture.configuration(gateway: line), path: "/etc/popgate/popgate.toml")
        } throws: { error in
            guard let error = error as? ConfigError else { return false }
            return error.key == "gateway.drain_timeout_s" && error.line == 13 && error.message.contains(message)
        }
    }
}
