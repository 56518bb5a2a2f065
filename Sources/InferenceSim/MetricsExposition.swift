/// Renders the simulator's metrics in the Prometheus text format (version 0.0.4) under the metric
/// names of the engine it imitates, so a router that scrapes real vLLM or llama.cpp workers scrapes
/// the simulator unchanged.
public enum MetricsExposition {
    /// The `Content-Type` of the rendering (llama-server sends the same).
    public static let contentType = "text/plain; version=0.0.4"

    /// The exposition of `snapshot` for a server configured with `options`.
    public static func render(_ snapshot: SimulatorMetrics.Snapshot, options: SimulatorOptions) -> String {
        switch options.engine {
        case .vllm: renderVLLM(snapshot, options: options)
        case .llamacpp: renderLlamaCpp(snapshot, options: options)
        }
    }

    /// vLLM's families, labelled with the first model's name.
    ///
    /// In-flight requests up to `maxRunning` count as running and the rest as waiting; KV-cache
    /// usage is the running fraction of `maxRunning`. The `--report-*` overrides replace the
    /// waiting count and the usage so router tests can stage a loaded worker.
    static func renderVLLM(_ snapshot: SimulatorMetrics.Snapshot, options: SimulatorOptions) -> String {
        let running = min(snapshot.inFlight, options.maxRunning)
        let waiting = options.reportQueueDepth ?? max(snapshot.inFlight - options.maxRunning, 0)
        let kvUsage = options.reportKVUsage ?? Double(running) / Double(options.maxRunning)
        let labels = "{model_name=\"\(escapeLabelValue(options.models[0]))\"}"

        let families: [(name: String, type: String, help: String, value: Double)] = [
            ("vllm:num_requests_running", "gauge", "Number of requests in model execution batches.", Double(running)),
            ("vllm:num_requests_waiting", "gauge", "Number of requests waiting to be processed.", Double(waiting)),
            ("vllm:kv_cache_usage_perc", "gauge", "KV-cache usage. 1 means 100 percent usage.", kvUsage),
            (
                "vllm:prompt_tokens_total", "counter", "Number of prefill tokens processed.",
                Double(snapshot.promptTokensTotal)
            ),
            (
                "vllm:generation_tokens_total", "counter", "Number of generation tokens processed.",
                Double(snapshot.generationTokensTotal)
            ),
            (
                "vllm:request_success_total", "counter", "Count of successfully processed requests.",
                Double(snapshot.requestSuccessTotal)
            ),
        ] + simulatorFamilies(snapshot).map { ($0.name, $0.type, $0.help, Double($0.value)) }
        // Counters are named with their _total suffix in HELP and TYPE too, as Python's
        // prometheus_client (and so vLLM) writes them.
        return families.map { family in
            "# HELP \(family.name) \(family.help)\n# TYPE \(family.name) \(family.type)\n"
                + "\(family.name)\(labels) \(family.value)\n"
        }.joined()
    }

    /// The simulator's own families, served whichever engine it imitates. Neither engine tells
    /// aborted requests apart (vLLM only by the finished_reason label of request_success_total, a
    /// split this page does not make), and neither reports a request's priority.
    static func simulatorFamilies(
        _ snapshot: SimulatorMetrics.Snapshot
    ) -> [(name: String, type: String, help: String, value: Int)] {
        [
            (
                "popgate_sim_abandoned_total", "counter",
                "Generations cut short: the client left or the server stopped.", snapshot.abandonedTotal
            ),
            (
                "popgate_sim_last_priority", "gauge",
                "The priority field of the most recent request, -1 when it had none.", snapshot.lastPriority ?? -1
            ),
        ]
    }

    /// Escapes a label value per the text format: backslash, double quote and newline.
    static func escapeLabelValue(_ value: String) -> String {
        var escaped = ""
        for character in value {
            switch character {
            case "\\": escaped += "\\\\"
            case "\"": escaped += "\\\""
            case "\n": escaped += "\\n"
            default: escaped.append(character)
            }
        }
        return escaped
    }
}
