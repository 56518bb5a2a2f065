/// llama.cpp's `timings` object: how many prompt tokens were read from the cache and how many
/// computed, how many tokens were generated, and how long each took.
///
/// llama-server puts it on a non-streamed answer, on a stream's last chunk (the usage chunk when
/// `include_usage` was asked for, else the finish chunk) and, with the request field
/// `timings_per_token`, on every content chunk too, counting the tokens generated so far.
///
/// The simulator keeps no prompt cache, so `cache_n` is 0 and `prompt_n` the whole prompt: the real
/// server splits the same total differently once it has seen a prefix, so only the sum is a fact a
/// client may rely on. The times are the simulator's schedule: prompts take no time, and each token
/// takes one token's worth at the configured rate.
public struct LlamaCppTimings: Sendable, Equatable, Codable {
    /// Prompt tokens reused from the cache; always 0 here.
    public var cacheN: Int
    /// Prompt tokens computed.
    public var promptN: Int
    /// Time spent on the prompt.
    public var promptMs: Double
    /// `promptMs / promptN`, 0 when nothing was computed.
    public var promptPerTokenMs: Double
    /// Prompt tokens per second, 0 when no time was spent.
    public var promptPerSecond: Double
    /// Tokens generated so far.
    public var predictedN: Int
    /// Time spent generating them.
    public var predictedMs: Double
    /// `predictedMs / predictedN`, 0 when nothing was generated.
    public var predictedPerTokenMs: Double
    /// Tokens generated per second, 0 when no time was spent.
    public var predictedPerSecond: Double

    /// The timings after `predicted` of the tokens of a prompt of `promptTokens` tokens, generated
    /// at `tokensPerSecond` (0: at once).
    public init(promptTokens: Int, predicted: Int, tokensPerSecond: Double) {
        cacheN = 0
        promptN = promptTokens
        promptMs = 0
        promptPerTokenMs = 0
        // The prompt takes no simulated time: a rate over no time would be infinite, which JSON cannot
        // carry; llama.cpp itself writes 0 for a rate it cannot measure.
        promptPerSecond = 0
        predictedN = predicted
        predictedMs = tokensPerSecond > 0 ? Double(predicted) * 1000 / tokensPerSecond : 0
        predictedPerTokenMs = predicted > 0 ? predictedMs / Double(predicted) : 0
        predictedPerSecond = predictedMs > 0 ? tokensPerSecond : 0
    }

    enum CodingKeys: String, CodingKey {
        case cacheN = "cache_n"
        case promptN = "prompt_n"
        case promptMs = "prompt_ms"
        case promptPerTokenMs = "prompt_per_token_ms"
        case promptPerSecond = "prompt_per_second"
        case predictedN = "predicted_n"
        case predictedMs = "predicted_ms"
        case predictedPerTokenMs = "predicted_per_token_ms"
        case predictedPerSecond = "predicted_per_second"
    }
}
