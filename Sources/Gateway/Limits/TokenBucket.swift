/// A bucket holding up to a minute's allowance, refilled continuously at the per-minute rate.
///
/// Requests take one unit before they run. Tokens are only known after a response, so they are
/// charged afterwards and may push the level below zero: the key is then refused until the
/// debt has refilled, which is how a per-minute token rate holds with unknown request sizes.
struct TokenBucket: Sendable, Equatable {
    let perMinute: Double
    private(set) var level: Double
    private(set) var updated: ContinuousClock.Instant

    init(perMinute: Int, at now: ContinuousClock.Instant) {
        self.perMinute = Double(perMinute)
        level = Double(perMinute)
        updated = now
    }

    private var perSecond: Double { perMinute / 60 }

    mutating func refill(at now: ContinuousClock.Instant) {
        guard now > updated else { return }
        let elapsed = (now - updated).seconds
        level = min(perMinute, level + elapsed * perSecond)
        updated = now
    }

    /// Takes `amount` if the bucket holds it.
    mutating func take(_ amount: Double, at now: ContinuousClock.Instant) -> Bool {
        refill(at: now)
        guard level >= amount else { return false }
        level -= amount
        return true
    }

    /// Takes `amount` whatever the level (a debt is allowed); a negative amount gives back, up to full.
    mutating func charge(_ amount: Double, at now: ContinuousClock.Instant) {
        refill(at: now)
        level = min(perMinute, level - amount)
    }

    /// Whole seconds until the bucket holds `amount` again (at least 1 when it does not now).
    func secondsUntil(holding amount: Double) -> Int {
        guard level < amount else { return 0 }
        return max(1, Int(((amount - level) / perSecond).rounded(.up)))
    }

    /// Whether it has refilled completely by `now`, so forgetting it changes nothing.
    func isFull(at now: ContinuousClock.Instant) -> Bool {
        level + (now - updated).seconds * perSecond >= perMinute
    }
}
