import PopConfig
import Testing

/// `[limits] max_connections_per_peer`.
@Suite struct ConnectionLimitSettingsTests {
    static let base = BackendSettingsTests.twoBackends

    @Test func theDefaultIsAFewHundred() throws {
        let config = try PopConfiguration.parse(Self.base)
        #expect(config.limits.maxConnectionsPerPeer == 256)
        #expect(LimitSettings.defaults.maxConnectionsPerPeer == LimitSettings.defaultMaxConnectionsPerPeer)
    }

    @Test(arguments: [0, 1, 10_000, 1_000_000])
    func anyValueInRangeIsTaken(_ value: Int) throws {
        let config = try PopConfiguration.parse(Self.base + "\n[limits]\nmax_connections_per_peer = \(value)\n")
        #expect(config.limits.maxConnectionsPerPeer == value)
    }

    static let broken: [(String, String)] = [
        ("-1", "out of range; use a value from 0 to 1000000"),
        ("1000001", "out of range; use a value from 0 to 1000000"),
        ("\"many\"", "expected an integer"),
        ("2.5", "expected an integer"),
    ]

    @Test(arguments: broken)
    func aBadValueNamesTheKeyAndTheRange(_ case_: (String, String)) {
        do {
            _ = try PopConfiguration.parse(Self.base + "\n[limits]\nmax_connections_per_peer = \(case_.0)\n")
            Issue.record("expected an error for \(case_.0)")
        } catch {
            #expect(error.key == "limits.max_connections_per_peer", "\(error)")
            #expect(error.message.contains(case_.1), "\(error)")
        }
    }
}
