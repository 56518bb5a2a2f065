extension MetricsExposition {
    /// llama-server's families (with `--metrics`): unlabelled, integer samples, HELP and TYPE as
    /// llama-server writes them, in its order.
    ///
    /// Only the families whose values the simulator knows are served: the token counters and the
    /// two request gauges a router reads. In-flight requests up to the slot count (`maxRunning`, the
    /// engine's `--parallel`) are processing and the rest deferred, as llama-server defers a task
    /// that finds no free slot. `--report-busy-slots` and `--report-queue-depth` replace the two
    /// gauges so router tests can stage a loaded worker.
    static func renderLlamaCpp(_ snapshot: SimulatorMetrics.Snapshot, options: SimulatorOptions) -> String {
        let processing = options.reportBusySlots ?? min(snapshot.inFlight, options.maxRunning)
        let deferred = options.reportQueueDepth ?? max(snapshot.inFlight - options.maxRunning, 0)
        let families: [(name: String, type: String, help: String, value: Int)] = [
            (
                "llamacpp:prompt_tokens_total", "counter",
                "Number of prompt tokens processed, excluding cached tokens", snapshot.promptTokensTotal
            ),
            // The simulator keeps no prompt cache.
            ("llamacpp:prompt_tokens_cached_total", "counter", "Number of prompt tokens reused from the cache", 0),
            (
                "llamacpp:tokens_predicted_total", "counter", "Number of generation tokens processed",
                snapshot.generationTokensTotal
            ),
            ("llamacpp:requests_processing", "gauge", "Number of requests processing", processing),
            ("llamacpp:requests_deferred", "gauge", "Number of requests deferred", deferred),
        ] + simulatorFamilies(snapshot)
        return families.map { family in
            "# HELP \(family.name) \(family.help)\n# TYPE \(family.name) \(family.type)\n"
                + "\(family.name) \(family.value)\n"
        }.joined()
    }
}
