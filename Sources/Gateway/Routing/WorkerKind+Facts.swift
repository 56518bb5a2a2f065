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

    /// Where its queue depth and GPU pressure are read, when it publishes them.
    var metrics: LoadMetrics? {
        switch self {
        // vLLM's own gauges (vllm/v1/metrics/loggers.py).
        case .vllm: LoadMetrics(queue: "vllm:num_requests_waiting", pressure: .gauge("vllm:kv_cache_usage_perc"))
        // llama.cpp's server publishes no KV-cache gauge on its /metrics page: its pressure is the share of
        // its slots that are busy, the requests it is processing over the slot count its `/props` reports.
        case .llamacpp:
            LoadMetrics(
                queue: "llamacpp:requests_deferred",
                pressure: .busySlots(processing: "llamacpp:requests_processing", propsPath: "/props")
            )
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

    /// Whether it reports its counts so far in every streamed chunk when asked with
    /// `timings_per_token` (llama.cpp's `timings`: `prompt_n` and `cache_n` for the prompt,
    /// `predicted_n` for the tokens generated), so a stream cut short still has its prompt's tokens.
    var streamsTimingsPerToken: Bool { self == .llamacpp }
}

/// Where a worker publishes its load: the metric of its queue depth, and how its GPU pressure is
/// read (0 to 1).
struct LoadMetrics {
    enum Pressure {
        /// A gauge that is the pressure itself.
        case gauge(String)
        /// The share of busy slots: a gauge of the requests being processed, over the `total_slots`
        /// of the JSON at `propsPath`.
        case busySlots(processing: String, propsPath: String)
    }

    let queue: String
    let pressure: Pressure
}
