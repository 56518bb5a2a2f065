import PopConfig

/// Everything the gateway knows about each kind of inference worker, in one place: where it says it
/// is up, where its load is read, and which of the gateway's request fields it understands.
extension WorkerKind {
    /// Where the worker says it is up.
    var healthPath: String {
        switch self {
        case .vllm, .llamacpp: "/health"
        case .ollama: "/api/version"
        case .openai: "/v1/models"
        }
    }

    /// The metric names of its queue depth and GPU pressure, when it publishes them.
    var metrics: (queue: String, pressure: String?)? {
        switch self {
        case .vllm: ("vllm:num_requests_waiting", "vllm:kv_cache_usage_perc")
        case .llamacpp: ("llamacpp:requests_deferred", nil)
        case .ollama, .openai: nil
        }
    }

    /// Whether the worker's `/metrics` says how many requests wait; for the others the gateway
    /// counts its own requests in flight as their queue.
    var publishesQueue: Bool { metrics != nil }

    /// Whether it keeps prefix caches apart by `cache_salt` (vLLM): the tenant's salt is sent only there.
    var takesCacheSalt: Bool { self == .vllm }

    /// Whether it reports the usage so far in every streamed chunk when asked with
    /// `stream_options.continuous_usage_stats` (vLLM's extension), so a stream cut short still has
    /// the worker's own count.
    var streamsContinuousUsage: Bool { self == .vllm }
}
