import InferenceSim
import NIOCore
import NIOHTTP1
import Testing

/// Starts the real server on loopback and talks HTTP/1.1 to it.
@Suite("Server end to end", .timeLimit(.minutes(1)))
struct ServerEndToEndTests {
    static let defaultContent =
        "Hello from the popgate inference simulator. Hello from the popgate inference simulator."
    static let chatBody = #"{"model":"sim-small","messages":[{"role":"user","content":"Say hello, simulator"}]}"#

    /// The JSON payloads of an SSE body, in order.
    func events(_ body: String) -> [String] {
        body.split(separator: "\n\n", omittingEmptySubsequences: true).map { event in
            #expect(event.hasPrefix("data: "))
            return String(event.dropFirst("data: ".count))
        }
    }

    @Test("binding port 0 reports the kernel's port")
    func boundPort() async throws {
        try await withSimulator { server in
            #expect(server.port > 0)
            #expect(server.boundAddress.description == "127.0.0.1:\(server.port)")
        }
    }

    @Test("health, model listing, chat, streamed chat and metrics over one keep-alive connection")
    func mainFlow() async throws {
        try await withSimulator(tokensPerSecond: 1000) { server in
            try await TestHTTPConnection.with(port: server.port) { connection in
                let health = try await connection.request(.GET, "/health")
                #expect(health.status == .ok)
                #expect(health.header("Content-Length") == "0")
                #expect(health.body.isEmpty)

                let models = try await connection.request(.GET, "/v1/models")
                #expect(models.status == .ok)
                #expect(models.header("Content-Type") == "application/json")
                #expect(
                    models.body == WireJSON.string(ModelList(models: ["sim-small", "sim-large"]))
                )

                let chat = try await connection.request(.POST, "/v1/chat/completions", body: Self.chatBody)
                #expect(chat.status == .ok)
                #expect(chat.header("Content-Type") == "application/json")
                #expect(chat.header("Content-Length") == "\(chat.body.utf8.count)")
                let completion = try decodeJSON(ChatCompletion.self, chat.body)
                #expect(completion.object == "chat.completion")
                #expect(completion.model == "sim-small")
                #expect(completion.id.hasPrefix("chatcmpl-"))
                #expect(
                    completion.choices == [.init(message: .init(content: Self.defaultContent), finishReason: .stop)])
                // "Say hello, simulator": three words plus one for the message.
                #expect(completion.usage == Usage(promptTokens: 4, completionTokens: 12))

                let stream = try await connection.request(
                    .POST, "/v1/chat/completions",
                    body: #"{"model":"sim-small","stream":true,"stream_options":{"include_usage":true},"#
                        + #""messages":[{"role":"user","content":"Say hello, simulator"}]}"#
                )
                #expect(stream.status == .ok)
                #expect(stream.header("Content-Type") == "text/event-stream")
                #expect(stream.header("Cache-Control") == "no-cache")
                #expect(stream.header("Transfer-Encoding") == "chunked")
                #expect(stream.header("Content-Length") == nil)
                let payloads = events(stream.body)
                #expect(payloads.count == 16)  // role, 12 tokens, closing, usage, [DONE]
                #expect(payloads.last == "[DONE]")
                let chunks = try payloads.dropLast().map { try decodeJSON(ChatCompletionChunk.self, $0) }
                #expect(Set(chunks.map(\.id)).count == 1)
                #expect(chunks.allSatisfy { $0.object == "chat.completion.chunk" && $0.model == "sim-small" })
                #expect(chunks[0].choices == [.init(delta: .init(role: "assistant", content: ""))])
                let deltas = chunks[1...12].map { $0.choices[0].delta }
                #expect(deltas.allSatisfy { $0.role == nil })
                #expect(deltas.compactMap(\.content).joined() == completion.choices[0].message.content)
                #expect(chunks[1...12].allSatisfy { $0.choices[0].finishReason == nil && $0.usage == nil })
                #expect(chunks[13].choices == [.init(delta: .init(), finishReason: .stop)])
                #expect(chunks[13].usage == nil)
                #expect(chunks[14].choices.isEmpty)
                #expect(chunks[14].usage == Usage(promptTokens: 4, completionTokens: 12))

                // Same connection: the server finished its bookkeeping before reading this request.
                let metrics = try await connection.request(.GET, "/metrics")
                #expect(metrics.status == .ok)
                #expect(metrics.header("Content-Type") == "text/plain; version=0.0.4")
                for family in [
                    "vllm:num_requests_running", "vllm:num_requests_waiting", "vllm:kv_cache_usage_perc",
                    "vllm:prompt_tokens_total", "vllm:generation_tokens_total", "vllm:request_success_total",
                    "popgate_sim_last_priority",
                ] {
                    #expect(metrics.body.contains("# HELP \(family) "))
                    #expect(metrics.body.contains("# TYPE \(family) "))
                }
                #expect(metrics.body.contains("vllm:num_requests_running{model_name=\"sim-small\"} 0.0\n"))
                #expect(metrics.body.contains("vllm:prompt_tokens_total{model_name=\"sim-small\"} 8.0\n"))
                #expect(metrics.body.contains("vllm:generation_tokens_total{model_name=\"sim-small\"} 24.0\n"))
                #expect(metrics.body.contains("vllm:request_success_total{model_name=\"sim-small\"} 2.0\n"))
                #expect(metrics.body.contains("popgate_sim_last_priority{model_name=\"sim-small\"} -1.0\n"))
            }
        }
    }

    @Test("a stream without include_usage has no usage chunk, and max_tokens finishes with length")
    func streamWithoutUsage() async throws {
        try await withSimulator { server in
            let response = try await fetch(
                port: server.port, .POST, "/v1/chat/completions",
                body: #"{"model":"sim-large","stream":true,"max_tokens":3,"messages":[{"role":"user","content":"x"}]}"#
            )
            let payloads = events(response.body)
            #expect(payloads.count == 6)  // role, 3 tokens, closing, [DONE]
            #expect(!response.body.contains("usage"))
            #expect(payloads[4].contains(#""finish_reason":"length""#))
        }
    }

    @Test("with vLLM's continuous_usage_stats every chunk carries the usage so far, then the usage chunk")
    func continuousUsage() async throws {
        try await withSimulator { server in
            let response = try await fetch(
                port: server.port, .POST, "/v1/completions",
                body: #"{"model":"sim-small","prompt":"a b","stream":true,"max_tokens":2,"#
                    + #""stream_options":{"include_usage":true,"continuous_usage_stats":true}}"#
            )
            let payloads = events(response.body)
            #expect(payloads.count == 5)  // 2 tokens, closing, usage, [DONE]
            let chunks = try payloads.dropLast().map { try decodeJSON(TextCompletion.self, $0) }
            #expect(chunks.map(\.usage) == [1, 2, 2, 2].map { Usage(promptTokens: 2, completionTokens: $0) })
            #expect(chunks[3].choices.isEmpty)
        }
    }

    @Test("stream events leave the server as they are generated")
    func streamIsIncremental() async throws {
        // At 5 tokens/s the second token is due 400 ms after the role chunk, so the first part the
        // client sees cannot contain the end of the stream unless the server buffered it.
        try await withSimulator(tokensPerSecond: 5) { server in
            try await TestHTTPConnection.with(port: server.port) { connection in
                try await connection.send(
                    .POST, "/v1/chat/completions",
                    body: #"{"model":"sim-small","stream":true,"max_tokens":2,"#
                        + #""messages":[{"role":"user","content":"x"}]}"#
                )
                let head = try await connection.receiveHead()
                #expect(head.status == .ok)
                let first = try #require(try await connection.receiveBodyPart())
                #expect(String(buffer: first).contains(#""role":"assistant""#))
                #expect(!String(buffer: first).contains("[DONE]"))
                let rest = try await connection.receiveBody(head: head)
                #expect(rest.body.hasSuffix("data: [DONE]\n\n"))
            }
        }
    }

    @Test("a non-streamed answer takes N / tokens-per-second")
    func pacing() async throws {
        try await withSimulator(tokensPerSecond: 100) { server in
            let started = ContinuousClock.now
            let response = try await fetch(
                port: server.port, .POST, "/v1/chat/completions",
                body: #"{"model":"sim-small","max_tokens":10,"messages":[{"role":"user","content":"x"}]}"#
            )
            #expect(response.status == .ok)
            #expect(ContinuousClock.now - started >= .milliseconds(100))
        }
    }

    @Test("unknown model is 404 model_not_found; invalid JSON is 400; both keep the connection")
    func refusals() async throws {
        try await withSimulator { server in
            try await TestHTTPConnection.with(port: server.port) { connection in
                let unknown = try await connection.request(
                    .POST, "/v1/chat/completions",
                    body: #"{"model":"gpt-4o","messages":[{"role":"user","content":"x"}]}"#
                )
                #expect(unknown.status == .notFound)
                #expect(unknown.header("Content-Type") == "application/json")
                #expect(unknown.body.contains(#""code":"model_not_found""#))
                #expect(unknown.body.contains(#""param":"model""#))
                #expect(unknown.body.contains(#""type":"invalid_request_error""#))

                let invalid = try await connection.request(.POST, "/v1/chat/completions", body: #"{"model": "sim-"#)
                #expect(invalid.status == .badRequest)
                #expect(invalid.body.hasPrefix(#"{"error":{"#))
                #expect(invalid.body.contains(#""type":"invalid_request_error""#))

                let missing = try await connection.request(.POST, "/v1/completions", body: #"{"model":"sim-small"}"#)
                #expect(missing.status == .badRequest)
                #expect(missing.body.contains(#""param":"prompt""#))

                let path = try await connection.request(.GET, "/v1/nothing-here")
                #expect(path.status == .notFound)

                let method = try await connection.request(.GET, "/v1/chat/completions")
                #expect(method.status == .methodNotAllowed)
                #expect(method.header("Allow") == "POST")

                #expect(try await connection.request(.GET, "/health").status == .ok)
            }
        }
    }

    @Test("bodies over the limit get 413 and the connection closes")
    func tooLarge() async throws {
        try await withSimulator(maxRequestBodyBytes: 64) { server in
            try await TestHTTPConnection.with(port: server.port) { connection in
                let response = try await connection.request(
                    .POST, "/v1/embeddings",
                    body: #"{"model":"sim-small","input":""# + String(repeating: "x", count: 100) + #""}"#
                )
                #expect(response.status == .payloadTooLarge)
                #expect(response.header("Connection") == "close")
                #expect(try await connection.serverClosed())
            }
        }
    }

    @Test("Connection: close is honoured")
    func connectionClose() async throws {
        try await withSimulator { server in
            try await TestHTTPConnection.with(port: server.port) { connection in
                let response = try await connection.request(.GET, "/health", headers: [("Connection", "close")])
                #expect(response.status == .ok)
                #expect(response.header("Connection") == "close")
                #expect(try await connection.serverClosed())
            }
        }
    }

    @Test("legacy completions and embeddings answer in OpenAI's shapes")
    func completionsAndEmbeddings() async throws {
        try await withSimulator(priorityScheduling: true) { server in
            try await TestHTTPConnection.with(port: server.port) { connection in
                let text = try await connection.request(
                    .POST, "/v1/completions", body: #"{"model":"sim-large","prompt":"one two three","max_tokens":2}"#
                )
                let completion = try decodeJSON(TextCompletion.self, text.body)
                #expect(completion.object == "text_completion")
                #expect(completion.id.hasPrefix("cmpl-"))
                #expect(completion.choices == [.init(text: "Hello from", finishReason: .length)])
                #expect(completion.usage == Usage(promptTokens: 3, completionTokens: 2))

                let embedding = try await connection.request(
                    .POST, "/v1/embeddings", body: #"{"model":"sim-small","input":["a b","c"],"priority":3}"#
                )
                let list = try decodeJSON(EmbeddingList.self, embedding.body)
                #expect(list.object == "list")
                #expect(list.model == "sim-small")
                #expect(list.data.map(\.index) == [0, 1])
                #expect(list.data[0].embedding == .floats(SimulatedEmbedding.vector(for: "a b")))
                #expect(list.usage == .init(promptTokens: 3))

                let metrics = try await connection.request(.GET, "/metrics")
                #expect(metrics.body.contains("popgate_sim_last_priority{model_name=\"sim-small\"} 3.0\n"))
            }
        }
    }

    @Test("in-flight streams show as running, then waiting beyond max-running")
    func gauges() async throws {
        try await withSimulator(tokensPerSecond: 1, maxRunning: 1, priorityScheduling: true) { server in
            let slow =
                #"{"model":"sim-small","stream":true,"max_tokens":50,"priority":9,"#
                + #""messages":[{"role":"user","content":"x"}]}"#
            try await TestHTTPConnection.with(port: server.port) { first in
                try await first.send(.POST, "/v1/chat/completions", body: slow)
                _ = try await first.receiveHead()  // admitted before the head is sent
                try await TestHTTPConnection.with(port: server.port) { second in
                    try await second.send(.POST, "/v1/chat/completions", body: slow)
                    _ = try await second.receiveHead()
                    let metrics = try await fetch(port: server.port, .GET, "/metrics").body
                    #expect(metrics.contains("vllm:num_requests_running{model_name=\"sim-small\"} 1.0\n"))
                    #expect(metrics.contains("vllm:num_requests_waiting{model_name=\"sim-small\"} 1.0\n"))
                    #expect(metrics.contains("vllm:kv_cache_usage_perc{model_name=\"sim-small\"} 1.0\n"))
                    #expect(metrics.contains("popgate_sim_last_priority{model_name=\"sim-small\"} 9.0\n"))
                }
            }
            // Leaving the streams open: shutting the server down must end them promptly.
        }
    }

    @Test("report overrides appear in /metrics")
    func overrides() async throws {
        try await withSimulator(reportQueueDepth: 12, reportKVUsage: 0.75) { server in
            let metrics = try await fetch(port: server.port, .GET, "/metrics").body
            #expect(metrics.contains("vllm:num_requests_waiting{model_name=\"sim-small\"} 12.0\n"))
            #expect(metrics.contains("vllm:kv_cache_usage_perc{model_name=\"sim-small\"} 0.75\n"))
        }
    }

    @Test("without priority scheduling a priority is accepted and ignored, as vLLM 0.32 does; an empty salt is refused")
    func priorityAcceptedUnderFCFS() async throws {
        try await withSimulator { server in
            try await TestHTTPConnection.with(port: server.port) { connection in
                let accepted = try await connection.request(
                    .POST, "/v1/embeddings", body: #"{"model":"sim-small","input":"a","priority":10}"#
                )
                #expect(accepted.status == .ok)
                let salted = try await connection.request(
                    .POST, "/v1/embeddings", body: #"{"model":"sim-small","input":"a","cache_salt":"t1"}"#
                )
                #expect(salted.status == .ok)
                let unsalted = try await connection.request(
                    .POST, "/v1/embeddings", body: #"{"model":"sim-small","input":"a","cache_salt":""}"#
                )
                #expect(unsalted.status == .badRequest)
                #expect(unsalted.body.contains("'cache_salt' must be a non-empty string"))
            }
        }
    }
}
