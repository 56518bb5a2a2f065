@testable import Gateway
import Testing

@Suite struct PrometheusTextTests {
    static let vllm = """
        # HELP vllm:num_requests_waiting Number of requests waiting to be processed.
        # TYPE vllm:num_requests_waiting gauge
        vllm:num_requests_waiting{engine="0",model_name="apertus-70b"} 3.0
        vllm:num_requests_waiting{engine="1",model_name="apertus-70b"} 2.0
        vllm:num_requests_waiting_total 99
        vllm:kv_cache_usage_perc{engine="0",model_name="apertus-70b"} 0.25
        llamacpp:requests_deferred 4
        """

    @Test func samplesOfAMetricAreSummedOverLabelsAndPrefixNamesAreNotConfused() {
        #expect(PrometheusText.sum(of: "vllm:num_requests_waiting", in: Self.vllm) == 5)
        #expect(PrometheusText.sum(of: "vllm:kv_cache_usage_perc", in: Self.vllm) == 0.25)
        #expect(PrometheusText.sum(of: "llamacpp:requests_deferred", in: Self.vllm) == 4)
        #expect(PrometheusText.sum(of: "vllm:num_requests_running", in: Self.vllm) == nil)
        #expect(PrometheusText.sum(of: "x", in: "x{a=\"}\"} NaN\nx 1e3 1700000000\n") == 1000)
    }
}
