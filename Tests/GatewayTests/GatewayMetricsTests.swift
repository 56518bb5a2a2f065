@testable import Gateway
import NIOHTTP1
import PopConfig
import Testing

@Suite struct GatewayMetricsTests {
    /// The rendered text's lines, and the sample lines (not comments) of one family.
    struct Exposition {
        let lines: [String]
        init(_ metrics: GatewayMetrics) { lines = metrics.render().split(separator: "\n").map(String.init) }

        func samples(_ prefix: String) -> [String] { lines.filter { $0.hasPrefix(prefix) } }

        /// The value of the one sample line that starts with `series` followed by a space.
        func value(_ series: String) -> Double? {
            let matching = lines.filter { $0.hasPrefix(series + " ") }
            guard matching.count == 1 else { return nil }
            return Double(matching[0].dropFirst(series.count + 1))
        }
    }

    @Test func everyFamilyHasHelpAndTypeOnce() {
        let metrics = GatewayMetrics()
        metrics.requestFinished(
            tenant: "acme", tier: "fast", backend: "sim-big", endpoint: "/v1/chat/completions", status: 200,
            duration: .milliseconds(120), timeToFirstByte: .milliseconds(40)
        )
        metrics.requestFinished(
            tenant: "acme", tier: "fast", backend: nil, endpoint: "/v1/chat/completions", status: 401,
            duration: .milliseconds(2), timeToFirstByte: nil
        )
        metrics.tokensCounted(tenant: "acme", tier: "fast", prompt: 12, completion: 30)
        metrics.streamStarted()
        metrics.rateLimited(tenant: "acme", tier: "slow", limit: .tokens)
        metrics.backendHealth(backend: "sim-big", healthy: true)
        metrics.backendLoad(backend: "sim-big", queueDepth: 2, gpuPressure: 0.25)
        let text = Exposition(metrics)
        let families: [(String, String)] = [
            ("popgate_requests_total", "counter"), ("popgate_request_duration_seconds", "histogram"),
            ("popgate_time_to_first_token_seconds", "histogram"), ("popgate_tokens_total", "counter"),
            ("popgate_active_streams", "gauge"), ("popgate_silent_closes_total", "counter"),
            ("popgate_rate_limited_total", "counter"), ("popgate_backend_up", "gauge"),
            ("popgate_backend_queue_depth", "gauge"), ("popgate_backend_gpu_pressure", "gauge"),
        ]
        for (name, type) in families {
            #expect(text.lines.filter { $0.hasPrefix("# HELP \(name) ") }.count == 1, "HELP of \(name)")
            #expect(text.lines.filter { $0 == "# TYPE \(name) \(type)" }.count == 1, "TYPE of \(name)")
        }
        let chat = #"tier="fast",endpoint="/v1/chat/completions""#
        #expect(text.value(#"popgate_requests_total{tenant="acme",tier="fast",backend="sim-big","#
            + #"endpoint="/v1/chat/completions",status="200"}"#) == 1)
        #expect(text.value(#"popgate_requests_total{tenant="acme",tier="fast",backend="none","#
            + #"endpoint="/v1/chat/completions",status="401"}"#) == 1)
        #expect(text.value(#"popgate_tokens_total{tenant="acme",tier="fast",kind="prompt"}"#) == 12)
        #expect(text.value(#"popgate_tokens_total{tenant="acme",tier="fast",kind="completion"}"#) == 30)
        #expect(text.value("popgate_active_streams") == 1)
        #expect(text.value(#"popgate_rate_limited_total{tenant="acme",tier="slow",limit="tokens"}"#) == 1)
        #expect(text.value(#"popgate_backend_up{backend="sim-big"}"#) == 1)
        #expect(text.value(#"popgate_backend_queue_depth{backend="sim-big"}"#) == 2)
        #expect(text.value(#"popgate_backend_gpu_pressure{backend="sim-big"}"#) == 0.25)
        // Only requests with a body from a backend have a time to first token.
        #expect(text.value("popgate_request_duration_seconds_count{\(chat)}") == 2)
        #expect(text.value("popgate_time_to_first_token_seconds_count{\(chat)}") == 1)
    }

    @Test func silentClosesArePresentAtZeroAndCountByReason() {
        let metrics = GatewayMetrics()
        #expect(Exposition(metrics).value(#"popgate_silent_closes_total{reason="non_peer"}"#) == 0)
        metrics.silentClose(.nonPeer)
        metrics.silentClose(.nonPeer)
        metrics.silentClose(.timeout)
        let text = Exposition(metrics)
        #expect(text.value(#"popgate_silent_closes_total{reason="non_peer"}"#) == 2)
        #expect(text.value(#"popgate_silent_closes_total{reason="timeout"}"#) == 1)
        #expect(text.value(#"popgate_silent_closes_total{reason="auth_failure"}"#) == 0)
        #expect(text.value("popgate_active_streams") == 0)
    }

    @Test func histogramBucketsAreCumulativeUpToInfinity() {
        let metrics = GatewayMetrics()
        for duration: Duration in [.milliseconds(3), .milliseconds(30), .seconds(3), .seconds(90)] {
            metrics.requestFinished(
                tenant: "acme", tier: "slow", backend: "sim-a", endpoint: "/v1/completions", status: 200,
                duration: duration, timeToFirstByte: nil
            )
        }
        let text = Exposition(metrics)
        let series = #"popgate_request_duration_seconds_bucket{tier="slow",endpoint="/v1/completions","#
        let buckets = text.samples(series)
        #expect(buckets.count == GatewayMetrics.latencyBuckets.count + 1)
        #expect(buckets.last?.hasPrefix(series + #"le="+Inf"} "#) == true)
        let counts = buckets.compactMap { $0.split(separator: " ").last.flatMap { Double($0) } }
        #expect(counts == counts.sorted(), "buckets must be cumulative: \(buckets)")
        #expect(text.value(series + #"le="0.005"}"#) == 1)
        #expect(text.value(series + #"le="0.05"}"#) == 2)
        #expect(text.value(series + #"le="5.0"}"#) == 3)
        #expect(text.value(series + #"le="60.0"}"#) == 3)
        #expect(text.value(series + #"le="+Inf"}"#) == 4)
        #expect(text.value(#"popgate_request_duration_seconds_count{tier="slow",endpoint="/v1/completions"}"#) == 4)
        let sum = text.value(#"popgate_request_duration_seconds_sum{tier="slow",endpoint="/v1/completions"}"#)
        #expect(sum.map { abs($0 - 93.033) < 1e-9 } == true, "sum \(String(describing: sum))")
    }

    @Test func labelValuesAreEscaped() {
        let metrics = GatewayMetrics()
        metrics.tokensCounted(tenant: "a\"b\\c\nd", tier: "fast", prompt: 1, completion: 0)
        #expect(Exposition(metrics).value(#"popgate_tokens_total{tenant="a\"b\\c\nd",tier="fast",kind="prompt"}"#) == 1)
    }

    @Test func clientChosenLabelValuesCannotGrowTheSeries() {
        let metrics = GatewayMetrics()
        for index in 0..<50 {
            metrics.requestFinished(
                tenant: "acme", tier: "tier-\(index)", backend: nil, endpoint: "/probe/\(index)", status: 404,
                duration: .milliseconds(1), timeToFirstByte: nil
            )
        }
        let text = Exposition(metrics)
        #expect(text.samples("popgate_requests_total{").count == 1)
        #expect(text.value(
            #"popgate_requests_total{tenant="acme",tier="unknown",backend="none",endpoint="other",status="404"}"#
        ) == 50)
    }

    @Test func negativeTokenCountsAreIgnored() {
        let metrics = GatewayMetrics()
        metrics.tokensCounted(tenant: "acme", tier: "fast", prompt: -5, completion: 7)
        let text = Exposition(metrics)
        #expect(text.value(#"popgate_tokens_total{tenant="acme",tier="fast",kind="prompt"}"#) == 0)
        #expect(text.value(#"popgate_tokens_total{tenant="acme",tier="fast",kind="completion"}"#) == 7)
    }

    @Test func backendGaugesFollowTheBoard() {
        let backends = [
            BackendSettings(name: "gpu-1", url: "http://10.99.0.2:8000", models: ["m"]),
            BackendSettings(name: "gpu-2", url: "http://10.99.0.3:8000", models: ["m"], kind: .ollama),
        ]
        let board = BackendBoard(backends: backends, unhealthyAfter: 1, healthyAfter: 1)
        board.checkPassed(0, queueDepth: 3, gpuPressure: 0.5)
        board.failed(1)
        board.requestStarted(1)
        let metrics = GatewayMetrics()
        metrics.observe(board, backends: backends)
        let text = Exposition(metrics)
        #expect(text.value(#"popgate_backend_up{backend="gpu-1"}"#) == 1)
        #expect(text.value(#"popgate_backend_queue_depth{backend="gpu-1"}"#) == 3)
        #expect(text.value(#"popgate_backend_gpu_pressure{backend="gpu-1"}"#) == 0.5)
        #expect(text.value(#"popgate_backend_up{backend="gpu-2"}"#) == 0)
        #expect(text.value(#"popgate_backend_queue_depth{backend="gpu-2"}"#) == 1)
    }

    @Test func theEndpointServesMetricsAtGETMetricsOnly() {
        #expect(MetricsEndpoint(method: .GET, uri: "/metrics") == .metrics)
        #expect(MetricsEndpoint(method: .GET, uri: "/metrics?name[]=x") == .metrics)
        #expect(MetricsEndpoint(method: .GET, uri: "/metrics/") == .notFound)
        #expect(MetricsEndpoint(method: .GET, uri: "/") == .notFound)
        #expect(MetricsEndpoint(method: .POST, uri: "/metrics") == .notFound)

        let (head, body) = MetricsEndpoint.metrics.response(version: .http1_1, keepAlive: true) { "x 1\n" }
        #expect(head.status == .ok)
        #expect(head.headers["Content-Type"] == ["text/plain; version=0.0.4; charset=utf-8"])
        #expect(head.headers["Content-Length"] == ["4"])
        #expect(head.headers["Connection"].isEmpty)
        #expect(body == "x 1\n")
        let (missing, _) = MetricsEndpoint.notFound.response(version: .http1_0, keepAlive: false) {
            Issue.record("rendered for a 404")
            return ""
        }
        #expect(missing.status == .notFound)
        #expect(missing.version == .http1_0)
        #expect(missing.headers["Connection"] == ["close"])
    }
}
