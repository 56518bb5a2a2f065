@testable import Gateway
import PopConfig
import Registry
import Testing

@Suite struct RateLimiterTests {
    let start = ContinuousClock.now

    func limiter(requests: Int, tokens: Int) -> RateLimiter {
        var tiers = LimitSettings.defaultTiers
        tiers["slow"] = .init(requestsPerMinute: requests, tokensPerMinute: tokens)
        return RateLimiter(settings: LimitSettings(tiers: tiers, maxStreamsPerPeer: 0))
    }

    @Test func aMinutesRequestsMayComeAtOnceThenOneEveryShareOfTheMinute() {
        let limits = limiter(requests: 30, tokens: 0)
        for _ in 0..<30 { #expect(limits.admit(apiKey: "k", tier: .slow, at: start) == nil) }
        let refused = limits.admit(apiKey: "k", tier: .slow, at: start)
        #expect(refused == RateLimitRefusal(limit: .requests, allowance: 30, retryAfterSeconds: 2))
        // 30 a minute refill one every 2 s.
        #expect(limits.admit(apiKey: "k", tier: .slow, at: start + .seconds(1)) != nil)
        #expect(limits.admit(apiKey: "k", tier: .slow, at: start + .seconds(2)) == nil)
    }

    @Test func keysAndTiersHaveSeparateAllowances() {
        let limits = limiter(requests: 1, tokens: 0)
        #expect(limits.admit(apiKey: "a", tier: .slow, at: start) == nil)
        #expect(limits.admit(apiKey: "a", tier: .slow, at: start) != nil)
        #expect(limits.admit(apiKey: "b", tier: .slow, at: start) == nil)
        #expect(limits.admit(apiKey: "a", tier: .medium, at: start) == nil)
    }

    @Test func tokensAreChargedAfterwardsAndADebtRefusesUntilRepaid() {
        let limits = limiter(requests: 0, tokens: 600)
        #expect(limits.admit(apiKey: "k", tier: .slow, at: start) == nil)
        limits.charge(apiKey: "k", tier: .slow, tokens: 900, at: start)  // 300 in debt
        let refused = limits.admit(apiKey: "k", tier: .slow, at: start)
        // 600 a minute = 10 a second: the debt of 300 (and one more token) takes 31 s.
        #expect(refused == RateLimitRefusal(limit: .tokens, allowance: 600, retryAfterSeconds: 31))
        #expect(limits.admit(apiKey: "k", tier: .slow, at: start + .seconds(29)) != nil)
        #expect(limits.admit(apiKey: "k", tier: .slow, at: start + .seconds(31)) == nil)
    }

    @Test func zeroMeansUnlimitedAndNothingIsRemembered() {
        let limits = limiter(requests: 0, tokens: 0)
        for _ in 0..<1000 { #expect(limits.admit(apiKey: "k", tier: .slow, at: start) == nil) }
        limits.charge(apiKey: "k", tier: .slow, tokens: 1_000_000, at: start)
        #expect(limits.trackedCount == 0)
    }

    @Test func streamsPerPeerAreCountedInAndOut() {
        let streams = StreamCounter(limit: 2)
        #expect(streams.acquire(peer: 1) && streams.acquire(peer: 1))
        #expect(!streams.acquire(peer: 1))
        #expect(streams.acquire(peer: 2))
        streams.release(peer: 1)
        #expect(streams.acquire(peer: 1))
        #expect(streams.count(peer: 1) == 2)
    }

    @Test func aKeysOwnLimitsLowerItsTiersButNeverRaiseThem() {
        let limits = RateLimiter(settings: .defaults)  // slow: 60 requests and 200,000 tokens a minute
        let start = ContinuousClock.now
        let strict = APIKeyLimits(requestsPerMinute: 2)
        #expect(limits.admit(apiKey: "k", tier: .slow, own: strict, at: start) == nil)
        #expect(limits.admit(apiKey: "k", tier: .slow, own: strict, at: start) == nil)
        let refused = limits.admit(apiKey: "k", tier: .slow, own: strict, at: start)
        #expect(refused?.limit == .requests && refused?.allowance == 2)
        // A key's "limit" above its tier's is the tier's.
        let generous = APIKeyLimits(requestsPerMinute: 1_000_000, tokensPerMinute: 100)
        for _ in 0..<60 { #expect(limits.admit(apiKey: "g", tier: .slow, own: generous, at: start) == nil) }
        #expect(limits.admit(apiKey: "g", tier: .slow, own: generous, at: start)?.allowance == 60)
        // Its own tokens per minute apply to the debt it runs up.
        #expect(limits.admit(apiKey: "t", tier: .medium, own: generous, at: start) == nil)
        limits.charge(apiKey: "t", tier: .medium, own: generous, tokens: 150, at: start)
        #expect(limits.admit(apiKey: "t", tier: .medium, own: generous, at: start)?.limit == .tokens)
    }
}
