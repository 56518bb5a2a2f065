import Gateway

/// A worker's `/metrics` text (Prometheus exposition) as the backend checks read vLLM's queue and
/// cache figures from it (``PrometheusText``): a sum read is always finite, since routing weighs it.
enum WorkerMetricsTarget {
    static let target = FuzzTarget(
        name: "worker-metrics", summary: "a worker's /metrics text, as the backend monitor sums its load", run: run
    )

    /// The figures WorkerKind.metrics names.
    static let metrics = ["vllm:num_requests_waiting", "vllm:kv_cache_usage_perc", "llamacpp:requests_deferred"]

    static func run(_ data: UnsafeRawBufferPointer) {
        let text = String(decoding: data, as: UTF8.self)
        for metric in metrics {
            if let sum = PrometheusText.sum(of: metric, in: text) {
                FuzzCheck.require(!sum.isNaN, "a load figure read from /metrics is not a number")
            }
        }
    }
}
