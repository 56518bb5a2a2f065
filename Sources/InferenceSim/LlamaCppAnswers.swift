/// What llama.cpp's `llama-server` adds to an OpenAI answer, and what shapes it: the timings (at
/// the simulator's rate, per token when the request asked), the fingerprint, the cached-token count.
struct LlamaCppAnswers: Sendable {
    /// The rate the timings report: the simulator's schedule, not a measurement.
    var tokensPerSecond: Double
    /// The request's `timings_per_token`.
    var timingsPerToken = false

    /// llama-server sends its build as the `system_fingerprint` (`b<number>-<commit>`); a clearly
    /// simulated build in the same form.
    static let systemFingerprint = "b0-popgate-sim"

    /// The same, for a request that did or did not ask for timings per token.
    func with(timingsPerToken: Bool) -> LlamaCppAnswers {
        LlamaCppAnswers(tokensPerSecond: tokensPerSecond, timingsPerToken: timingsPerToken)
    }
}
