import Foundation
import PopConfig
import Registry

/// A request the limits refuse: which limit, its value, and when to come back.
public struct RateLimitRefusal: Sendable, Equatable {
    public let limit: RateLimitKind
    /// The configured value (per minute, or streams at once).
    public let allowance: Int
    public let retryAfterSeconds: Int
}

/// Requests and tokens per minute, per API key and tier (``LimitSettings``). A key created with
/// limits of its own (``APIKeyLimits``) is held to the lower of its own and its tier's, in each tier.
///
/// Shared by every connection; one lock guards the buckets and is held for a dictionary lookup
/// and a few floating-point operations.
public final class RateLimiter: @unchecked Sendable {
    private struct Key: Hashable {
        let apiKey: String
        let tier: Tier
    }

    private struct Buckets {
        var requests: TokenBucket?
        var tokens: TokenBucket?
    }

    private let limits: [Tier: LimitSettings.TierLimit]
    private let lock = NSLock()
    private var buckets: [Key: Buckets] = [:]
    private var admissionsSinceSweep = 0

    public init(settings: LimitSettings) {
        var limits: [Tier: LimitSettings.TierLimit] = [:]
        for tier in Tier.allCases { limits[tier] = settings.tiers[tier.rawValue] }
        self.limits = limits
    }

    /// Takes one request from the key's allowance in `tier`, or says why not. A key in token debt
    /// is refused until the debt has refilled.
    public func admit(
        apiKey: String, tier: Tier, own: APIKeyLimits = .none, at now: ContinuousClock.Instant = .now
    ) -> RateLimitRefusal? {
        guard let limit = effectiveLimit(tier, own), limit.requestsPerMinute > 0 || limit.tokensPerMinute > 0
        else { return nil }
        lock.lock()
        defer { lock.unlock() }
        sweepIfDue(at: now)
        let key = Key(apiKey: apiKey, tier: tier)
        var state = buckets[key] ?? Buckets(
            requests: limit.requestsPerMinute > 0 ? TokenBucket(perMinute: limit.requestsPerMinute, at: now) : nil,
            tokens: limit.tokensPerMinute > 0 ? TokenBucket(perMinute: limit.tokensPerMinute, at: now) : nil
        )
        defer { buckets[key] = state }
        if var tokens = state.tokens {
            tokens.refill(at: now)
            state.tokens = tokens
            if tokens.level <= 0 {
                return RateLimitRefusal(
                    limit: .tokens, allowance: limit.tokensPerMinute, retryAfterSeconds: tokens.secondsUntil(holding: 1)
                )
            }
        }
        if var requests = state.requests {
            let taken = requests.take(1, at: now)
            state.requests = requests
            if !taken {
                return RateLimitRefusal(
                    limit: .requests, allowance: limit.requestsPerMinute,
                    retryAfterSeconds: requests.secondsUntil(holding: 1)
                )
            }
        }
        return nil
    }

    /// Holds back `tokens` (the request's `max_tokens`) from the key's allowance in `tier` while the
    /// request runs, or refuses it when the key is in token debt. Requests admitted at once each
    /// hold their bound back, so together they cannot go past the allowance by more than the last
    /// one's bound. ``settle(apiKey:tier:own:reserved:used:at:)`` replaces the hold with what was used.
    public func reserve(
        apiKey: String, tier: Tier, own: APIKeyLimits = .none, tokens: Int, at now: ContinuousClock.Instant = .now
    ) -> RateLimitRefusal? {
        guard let limit = effectiveLimit(tier, own), limit.tokensPerMinute > 0 else { return nil }
        lock.lock()
        defer { lock.unlock() }
        let key = Key(apiKey: apiKey, tier: tier)
        var state = buckets[key] ?? Buckets(requests: nil, tokens: nil)
        var bucket = state.tokens ?? TokenBucket(perMinute: limit.tokensPerMinute, at: now)
        bucket.refill(at: now)
        guard bucket.level > 0 else {
            state.tokens = bucket
            buckets[key] = state
            return RateLimitRefusal(limit: .tokens, allowance: limit.tokensPerMinute, retryAfterSeconds: bucket.secondsUntil(holding: 1))
        }
        bucket.charge(Double(max(tokens, 0)), at: now)
        state.tokens = bucket
        buckets[key] = state
        return nil
    }

    /// Replaces a request's hold (``reserve(apiKey:tier:own:tokens:at:)``) with the tokens it used: the
    /// difference is charged, or given back when it used less than it held.
    public func settle(
        apiKey: String, tier: Tier, own: APIKeyLimits = .none, reserved: Int, used: Int,
        at now: ContinuousClock.Instant = .now
    ) {
        charge(apiKey: apiKey, tier: tier, own: own, tokens: used - max(reserved, 0), at: now)
    }

    /// Charges the tokens a finished request used to the key's allowance in `tier` (a negative count
    /// gives tokens back, up to a full bucket).
    public func charge(
        apiKey: String, tier: Tier, own: APIKeyLimits = .none, tokens: Int, at now: ContinuousClock.Instant = .now
    ) {
        guard tokens != 0, let limit = effectiveLimit(tier, own), limit.tokensPerMinute > 0 else { return }
        lock.lock()
        defer { lock.unlock() }
        let key = Key(apiKey: apiKey, tier: tier)
        var state = buckets[key] ?? Buckets(requests: nil, tokens: nil)
        var bucket = state.tokens ?? TokenBucket(perMinute: limit.tokensPerMinute, at: now)
        bucket.charge(Double(tokens), at: now)
        state.tokens = bucket
        buckets[key] = state
    }

    /// The tier's limit, lowered where the key's own is lower (0 in the tier means unlimited).
    private func effectiveLimit(_ tier: Tier, _ own: APIKeyLimits) -> LimitSettings.TierLimit? {
        guard var limit = limits[tier] else { return nil }
        func lower(_ tierValue: Int, _ ownValue: Int?) -> Int {
            guard let ownValue else { return tierValue }
            return tierValue == 0 ? ownValue : min(tierValue, ownValue)
        }
        limit.requestsPerMinute = lower(limit.requestsPerMinute, own.requestsPerMinute)
        limit.tokensPerMinute = lower(limit.tokensPerMinute, own.tokensPerMinute)
        return limit
    }

    /// Keys whose buckets have refilled are forgotten, so memory follows the keys active in the
    /// last minute rather than every key ever seen.
    private func sweepIfDue(at now: ContinuousClock.Instant) {
        admissionsSinceSweep += 1
        guard admissionsSinceSweep >= 4096 else { return }
        admissionsSinceSweep = 0
        buckets = buckets.filter { _, state in
            !((state.requests?.isFull(at: now) ?? true) && (state.tokens?.isFull(at: now) ?? true))
        }
    }

    /// How many key-and-tier pairs are remembered (for tests and metrics).
    var trackedCount: Int {
        lock.lock()
        defer { lock.unlock() }
        return buckets.count
    }
}
