import Foundation
import PopConfig
import Testing

@Suite struct LimitSettingsTests {
    static let base = BackendSettingsTests.twoBackends

    @Test func withoutALimitsSectionTheDefaultsHold() throws {
        let config = try PopConfiguration.parse(Self.base)
        #expect(config.limits == .defaults)
        #expect(config.gateway.maxHeaderBytes == 16 << 10 && !config.gateway.silentCloseOnAuthFailure)
    }

    @Test func aTierTableOverridesOnlyWhatItSays() throws {
        let config = try PopConfiguration.parse(Self.base + """

            [limits]
            max_streams_per_peer = 4
            slow = { requests_per_minute = 30 }
            [limits.fast]
            tokens_per_minute = 0
            """)
        #expect(config.limits.maxStreamsPerPeer == 4)
        #expect(config.limits.tiers["slow"] == .init(requestsPerMinute: 30, tokensPerMinute: 200_000))
        #expect(config.limits.tiers["fast"] == .init(requestsPerMinute: 3_000, tokensPerMinute: 0))
        #expect(config.limits.tiers["medium"] == LimitSettings.defaultTiers["medium"])
    }

    static let broken: [(String, String, String)] = [
        ("[limits]\nturbo = { requests_per_minute = 1 }", "limits.turbo", "unknown key"),
        ("[limits]\nslow = { requests_per_second = 1 }", "limits.slow.requests_per_second", "unknown key"),
        ("[limits]\nmax_streams_per_peer = -1", "limits.max_streams_per_peer", "out of range"),
        ("[limits]\nslow = 5", "limits.slow", "expected a table"),
    ]

    @Test(arguments: broken)
    func errorsNameTheKey(_ case_: (String, String, String)) {
        do {
            _ = try PopConfiguration.parse(Self.base + "\n" + case_.0)
            Issue.record("expected an error for \(case_.0)")
        } catch {
            #expect(error.key == case_.1, "\(error)")
            #expect(error.message.contains(case_.2), "\(error)")
        }
    }
}
