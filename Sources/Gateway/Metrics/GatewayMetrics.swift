import Prometheus

/// Everything popgated counts, rendered as Prometheus text (exposition format 0.0.4) for the
/// metrics listener on the management address.
///
/// The request path calls the small methods below; each finds its series by label values in a
/// cache and updates it with an atomic or a short lock, so no text is built per request. Label
/// values a client controls (paths, tier names) are mapped onto fixed sets (``MetricLabels``).
/// Nothing here holds content: no prompts, completions, keys or request ids.
public final class GatewayMetrics: Sendable {
    /// Latencies of LLM requests: a cached embedding answers in milliseconds, a long completion
    /// streams for a minute.
    static let latencyBuckets: [Duration] = [
        .milliseconds(5), .milliseconds(10), .milliseconds(25), .milliseconds(50), .milliseconds(100),
        .milliseconds(250), .milliseconds(500), .seconds(1), .milliseconds(2500), .seconds(5), .seconds(10),
        .seconds(20), .seconds(30), .seconds(60),
    ]

    private let registry = PrometheusCollectorRegistry()
    private let activeStreams: Gauge
    private let registryDegraded: Gauge
    private let receiptsAvailable: Gauge
    private let receiptsWritten: Gauge
    private let receiptsCheckpointed: Gauge
    private let requests = SeriesCache<RequestSeries, Counter>()
    private let latencies = SeriesCache<LatencySeries, (duration: DurationHistogram, firstToken: DurationHistogram)>()
    private let tokens = SeriesCache<TenantTier, (prompt: Counter, completion: Counter)>()
    private let silentCloses = SeriesCache<SilentCloseReason, Counter>()
    private let rateLimits = SeriesCache<RateLimitSeries, Counter>()
    private let backends = SeriesCache<String, (up: Gauge, queueDepth: Gauge, gpuPressure: Gauge)>()

    /// Creates the metrics with every fixed series at zero, so a scrape shows them before the first event.
    public init() {
        activeStreams = registry.makeGauge(
            descriptor: family("popgate_active_streams", "Streamed responses being sent to clients right now.")
        )
        registryDegraded = registry.makeGauge(
            descriptor: family(
                "popgate_registry_degraded",
                "1 while the registry database cannot be read and the last snapshot is served (fail static)."
            )
        )
        receiptsAvailable = registry.makeGauge(
            descriptor: family("popgate_receipts_available", "1 while receipts can be written; 0 while requests get 503.")
        )
        receiptsWritten = registry.makeGauge(
            descriptor: family("popgate_receipts_written", "Receipts in the log, signed or not yet.")
        )
        receiptsCheckpointed = registry.makeGauge(
            descriptor: family("popgate_receipts_checkpoint_size", "Receipts covered by the latest signed checkpoint.")
        )
        for reason in SilentCloseReason.allCases { _ = silentCloseCounter(reason) }
    }

    /// The receipt log's state, copied at each scrape.
    public func observe(_ receipts: ReceiptLog) {
        let state = receipts.state
        receiptsAvailable.set(Double(state.available ? 1 : 0))
        receiptsWritten.set(Double(state.written))
        receiptsCheckpointed.set(Double(state.checkpointed))
    }

    /// The registry became unreadable (`degraded`) or readable again.
    public func registryHealthChanged(degraded: Bool) {
        registryDegraded.set(Double(degraded ? 1 : 0))
    }

    /// One request has been answered (its last byte sent, or the connection lost).
    ///
    /// - Parameters:
    ///   - tenant: the tenant of the peer that sent it.
    ///   - tier: the tier it ran in (a name that is not a tier counts as `unknown`).
    ///   - backend: the backend that answered it, nil when none did (refused, 4xx, no backend).
    ///   - endpoint: the request path (paths the gateway does not serve count as `other`).
    ///   - status: the HTTP status sent.
    ///   - duration: from the request head to the last byte of the response.
    ///   - timeToFirstByte: from the request head to the first body byte from the backend (the
    ///     first token of a stream); nil when no body came from a backend.
    public func requestFinished(
        tenant: String, tier: String, backend: String?, endpoint: String, status: Int, duration: Duration,
        timeToFirstByte: Duration?
    ) {
        let tier = MetricLabels.tier(tier)
        let endpoint = MetricLabels.endpoint(endpoint)
        let key = RequestSeries(
            tenant: tenant, tier: tier, backend: backend ?? "none", endpoint: endpoint, status: status
        )
        requests(key) {
            registry.makeCounter(
                descriptor: family(
                    "popgate_requests_total",
                    "Requests answered, by tenant, tier, backend (none: no backend answered), endpoint and status."
                ),
                labels: [
                    ("tenant", key.tenant), ("tier", key.tier), ("backend", key.backend), ("endpoint", key.endpoint),
                    ("status", String(key.status)),
                ]
            )
        }.increment()
        let histograms = latencyHistograms(LatencySeries(tier: tier, endpoint: endpoint))
        histograms.duration.record(duration)
        if let timeToFirstByte { histograms.firstToken.record(timeToFirstByte) }
    }

    /// Token usage of one request, as the backend reported it.
    public func tokensCounted(tenant: String, tier: String, prompt: Int, completion: Int) {
        let key = TenantTier(tenant: tenant, tier: MetricLabels.tier(tier))
        let counters = tokens(key) {
            let help = "Tokens processed, by tenant, tier and kind (prompt or completion), as backends reported them."
            return (
                registry.makeCounter(
                    descriptor: family("popgate_tokens_total", help),
                    labels: [("tenant", key.tenant), ("tier", key.tier), ("kind", "prompt")]
                ),
                registry.makeCounter(
                    descriptor: family("popgate_tokens_total", help),
                    labels: [("tenant", key.tenant), ("tier", key.tier), ("kind", "completion")]
                )
            )
        }
        // A backend's usage figures are not trusted to be sane; a counter must never go down.
        if prompt > 0 { counters.prompt.increment(by: Int64(prompt)) }
        if completion > 0 { counters.completion.increment(by: Int64(completion)) }
    }

    /// A streamed response to a client began; pair with ``streamEnded()``.
    public func streamStarted() { activeStreams.increment() }

    /// A streamed response to a client ended, however it ended.
    public func streamEnded() { activeStreams.decrement() }

    /// A connection was closed without a byte.
    public func silentClose(_ reason: SilentCloseReason) { silentCloseCounter(reason).increment() }

    /// A request was refused by a limit.
    public func rateLimited(tenant: String, tier: String, limit: RateLimitKind) {
        let key = RateLimitSeries(tenant: tenant, tier: MetricLabels.tier(tier), limit: limit)
        rateLimits(key) {
            registry.makeCounter(
                descriptor: family(
                    "popgate_rate_limited_total",
                    "Requests refused by a limit, by tenant, tier and limit (requests, tokens or streams)."
                ),
                labels: [("tenant", key.tenant), ("tier", key.tier), ("limit", key.limit.rawValue)]
            )
        }.increment()
    }

    /// Whether a backend currently passes its health checks.
    public func backendHealth(backend: String, healthy: Bool) {
        backendGauges(backend).up.set(to: healthy ? 1 : 0)
    }

    /// A backend's load as the router sees it.
    public func backendLoad(backend: String, queueDepth: Double, gpuPressure: Double) {
        let gauges = backendGauges(backend)
        gauges.queueDepth.set(to: queueDepth)
        gauges.gpuPressure.set(to: gpuPressure)
    }

    /// Every metric in the Prometheus text exposition format 0.0.4: `# HELP` and `# TYPE` once per
    /// family, label values escaped, histograms as cumulative `_bucket`s up to `le="+Inf"`, `_sum`, `_count`.
    public func render() -> String {
        registry.emitToString()
    }

    // MARK: - Series

    private func latencyHistograms(
        _ key: LatencySeries
    ) -> (duration: DurationHistogram, firstToken: DurationHistogram) {
        latencies(key) {
            let labels = [("tier", key.tier), ("endpoint", key.endpoint)]
            return (
                registry.makeDurationHistogram(
                    descriptor: family(
                        "popgate_request_duration_seconds",
                        "Time from a request's head to the last byte of its response, by tier and endpoint."
                    ),
                    labels: labels, buckets: Self.latencyBuckets
                ),
                registry.makeDurationHistogram(
                    descriptor: family(
                        "popgate_time_to_first_token_seconds",
                        "Time from a request's head to the first body byte from the backend, by tier and endpoint."
                    ),
                    labels: labels, buckets: Self.latencyBuckets
                )
            )
        }
    }

    private func silentCloseCounter(_ reason: SilentCloseReason) -> Counter {
        silentCloses(reason) {
            registry.makeCounter(
                descriptor: family(
                    "popgate_silent_closes_total",
                    "Connections closed without a byte, by reason (non_peer, auth_failure, timeout, connection_limit)."
                ),
                labels: [("reason", reason.rawValue)]
            )
        }
    }

    private func backendGauges(_ backend: String) -> (up: Gauge, queueDepth: Gauge, gpuPressure: Gauge) {
        backends(backend) {
            let labels = [("backend", backend)]
            return (
                registry.makeGauge(
                    descriptor: family(
                        "popgate_backend_up",
                        "1 while the backend passes its health checks, 0 while it is out of rotation."
                    ),
                    labels: labels
                ),
                registry.makeGauge(
                    descriptor: family(
                        "popgate_backend_queue_depth",
                        "Requests waiting at the backend (its own figure, else the gateway's requests in flight to it)."
                    ),
                    labels: labels
                ),
                registry.makeGauge(
                    descriptor: family(
                        "popgate_backend_gpu_pressure",
                        "The backend's KV-cache usage, 0 to 1 (0 when it publishes none)."
                    ),
                    labels: labels
                )
            )
        }
    }
}

/// A family's full name (`popgate_…`, unit included) and its help text.
private func family(_ name: String, _ help: String) -> MetricNameDescriptor {
    MetricNameDescriptor(metricName: name, unitName: "", helpText: help)
}

private struct RequestSeries: Hashable, Sendable {
    var tenant: String
    var tier: String
    var backend: String
    var endpoint: String
    var status: Int
}

private struct LatencySeries: Hashable, Sendable {
    var tier: String
    var endpoint: String
}

private struct TenantTier: Hashable, Sendable {
    var tenant: String
    var tier: String
}

private struct RateLimitSeries: Hashable, Sendable {
    var tenant: String
    var tier: String
    var limit: RateLimitKind
}
