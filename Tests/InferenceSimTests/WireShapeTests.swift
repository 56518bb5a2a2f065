import NIOCore
import NIOHTTP1
import Testing

@testable import InferenceSim

/// Byte-for-byte JSON of every body the simulator writes. Keys are sorted (see `WireJSON`).
@Suite("Response JSON shapes")
struct WireShapeTests {
    @Test("model listing, in configured order")
    func modelList() {
        #expect(
            WireJSON.string(ModelList(models: ["a", "b"]))
                == #"{"data":[{"created":1700000000,"id":"a","object":"model","owned_by":"popgate-sim"},"#
                + #"{"created":1700000000,"id":"b","object":"model","owned_by":"popgate-sim"}],"object":"list"}"#
        )
    }

    @Test("non-streamed chat completion")
    func chatCompletion() {
        let completion = ChatCompletion(
            id: "chatcmpl-1", created: 42, model: "m",
            choices: [.init(message: .init(content: "Hello from"), finishReason: .length)],
            usage: Usage(promptTokens: 3, completionTokens: 2)
        )
        #expect(
            WireJSON.string(completion)
                == #"{"choices":[{"finish_reason":"length","index":0,"#
                + #""message":{"content":"Hello from","role":"assistant"}}],"#
                + #""created":42,"id":"chatcmpl-1","model":"m","object":"chat.completion","#
                + #""usage":{"completion_tokens":2,"prompt_tokens":3,"total_tokens":5}}"#
        )
    }

    @Test("chat chunks: explicit null finish_reason, empty closing delta, no usage key unless the usage chunk")
    func chatChunks() {
        let role = ChatCompletionChunk(
            id: "c", created: 1, model: "m", choices: [.init(delta: .init(role: "assistant", content: ""))]
        )
        #expect(
            WireJSON.string(role)
                == #"{"choices":[{"delta":{"content":"","role":"assistant"},"finish_reason":null,"index":0}],"#
                + #""created":1,"id":"c","model":"m","object":"chat.completion.chunk"}"#
        )
        let closing = ChatCompletionChunk(
            id: "c", created: 1, model: "m", choices: [.init(delta: .init(), finishReason: .stop)])
        #expect(
            WireJSON.string(closing)
                == #"{"choices":[{"delta":{},"finish_reason":"stop","index":0}],"#
                + #""created":1,"id":"c","model":"m","object":"chat.completion.chunk"}"#
        )
        let usage = ChatCompletionChunk(
            id: "c", created: 1, model: "m", choices: [], usage: .init(promptTokens: 1, completionTokens: 2))
        #expect(
            WireJSON.string(usage)
                == #"{"choices":[],"created":1,"id":"c","model":"m","object":"chat.completion.chunk","#
                + #""usage":{"completion_tokens":2,"prompt_tokens":1,"total_tokens":3}}"#
        )
    }

    @Test("legacy text completion and its chunks")
    func textCompletion() {
        let whole = TextCompletion(
            id: "cmpl-1", created: 7, model: "m", choices: [.init(text: "Hello", finishReason: .stop)],
            usage: .init(promptTokens: 2, completionTokens: 1)
        )
        #expect(
            WireJSON.string(whole)
                == #"{"choices":[{"finish_reason":"stop","index":0,"logprobs":null,"text":"Hello"}],"created":7,"#
                + #""id":"cmpl-1","model":"m","object":"text_completion","#
                + #""usage":{"completion_tokens":1,"prompt_tokens":2,"total_tokens":3}}"#
        )
        let chunk = TextCompletion(
            id: "cmpl-1", created: 7, model: "m", choices: [.init(text: " from", finishReason: nil)], usage: nil)
        #expect(
            WireJSON.string(chunk)
                == #"{"choices":[{"finish_reason":null,"index":0,"logprobs":null,"text":" from"}],"created":7,"#
                + #""id":"cmpl-1","model":"m","object":"text_completion"}"#
        )
    }

    @Test("embeddings in both encodings")
    func embeddings() {
        let list = EmbeddingList(
            data: [
                .init(index: 0, embedding: .floats([0.5, -0.25])), .init(index: 1, embedding: .base64("AAAAPw==")),
            ],
            model: "m", usage: .init(promptTokens: 3)
        )
        #expect(
            WireJSON.string(list)
                == #"{"data":[{"embedding":[0.5,-0.25],"index":0,"object":"embedding"},"#
                + #"{"embedding":"AAAAPw==","index":1,"object":"embedding"}],"model":"m","object":"list","#
                + #""usage":{"prompt_tokens":3,"total_tokens":3}}"#
        )
    }

    @Test("errors in OpenAI's envelope with explicit nulls")
    func errors() {
        #expect(
            String(buffer: SimulatorError.modelNotFound("x", served: ["a"]).body)
                == #"{"error":{"code":"model_not_found","message":"The model 'x' does not exist or is not served "#
                + #"here (served: a).","param":"model","type":"invalid_request_error"}}"#
        )
        #expect(String(buffer: SimulatorError.invalidJSON.body).contains(#""code":null"#))
        #expect(String(buffer: SimulatorError.invalidJSON.body).contains(#""param":null"#))
    }

    @Test("decoded responses round-trip")
    func roundTrip() throws {
        let completion = ChatCompletion(
            id: "x", created: 1, model: "m", choices: [.init(message: .init(content: "t"), finishReason: .stop)],
            usage: .init(promptTokens: 1, completionTokens: 1)
        )
        let chunk = TextCompletion(
            id: "y", created: 1, model: "m", choices: [.init(text: "t", finishReason: nil)], usage: nil)
        #expect(try decode(ChatCompletion.self, WireJSON.string(completion)) == completion)
        #expect(try decode(TextCompletion.self, WireJSON.string(chunk)) == chunk)
    }
}

/// Decodes with the simulator's own request path, so tests see the errors clients see.
func decode<T: Decodable>(_ type: T.Type, _ json: String) throws(SimulatorError) -> T {
    try WireJSON.decode(type, from: ByteBuffer(string: json))
}

@Suite("Request decoding")
struct RequestDecodingTests {
    @Test("a chat request with content parts, the newer token limit, priority and unknown fields")
    func chatRequest() throws {
        let request = try decode(
            ChatCompletionRequest.self,
            #"""
            {"model":"m","temperature":0.2,"tools":[],"priority":-5,"max_tokens":9,"max_completion_tokens":3,
             "stream":true,"stream_options":{"include_usage":true},
             "messages":[{"role":"system","content":"be brief"},
                         {"role":"user","content":[{"type":"text","text":"two words"},
                                                   {"type":"image_url","image_url":{"url":"x"}},
                                                   {"type":"text","text":"and three"}]},
                         {"role":"assistant","content":null,"tool_calls":[]}]}
            """#
        )
        #expect(request.model == "m")
        #expect(request.maxTokens == 3)
        #expect(request.stream)
        #expect(request.includeUsage)
        #expect(!request.continuousUsageStats)
        #expect(request.priority == -5)
        #expect(request.messages.map(\.text) == ["be brief", "two words and three", ""])
        #expect(SimulatedText.promptTokens(messages: request.messages) == 2 + 4 + 0 + 3)
    }

    @Test("defaults when optional fields are absent or null")
    func chatDefaults() throws {
        let request = try decode(
            ChatCompletionRequest.self,
            #"{"model":"m","max_tokens":null,"stream_options":null,"messages":[{"role":"user","content":"hi"}]}"#
        )
        #expect(request.maxTokens == nil)
        #expect(!request.stream)
        #expect(!request.includeUsage)
        #expect(request.priority == nil)
    }

    @Test("vLLM's continuous_usage_stats is read from stream_options of chat and legacy completions")
    func continuousUsageStats() throws {
        let chat = try decode(
            ChatCompletionRequest.self,
            #"""
            {"model":"m","stream":true,"stream_options":{"include_usage":true,"continuous_usage_stats":true},
             "messages":[{"role":"user","content":"hi"}]}
            """#
        )
        #expect(chat.includeUsage)
        #expect(chat.continuousUsageStats)
        let completion = try decode(
            CompletionRequest.self,
            #"{"model":"m","prompt":"a","stream":true,"stream_options":{"continuous_usage_stats":true}}"#
        )
        #expect(!completion.includeUsage)
        #expect(completion.continuousUsageStats)
        let null = try decode(
            CompletionRequest.self, #"{"model":"m","prompt":"a","stream_options":{"continuous_usage_stats":null}}"#
        )
        #expect(!null.continuousUsageStats)
    }

    @Test("legacy prompts and embedding inputs take a string or an array of strings")
    func promptsAndInputs() throws {
        #expect(try decode(CompletionRequest.self, #"{"model":"m","prompt":"a b"}"#).prompts == ["a b"])
        #expect(try decode(CompletionRequest.self, #"{"model":"m","prompt":["a","b"]}"#).prompts == ["a", "b"])
        let embedding = try decode(EmbeddingRequest.self, #"{"model":"m","input":["x"],"encoding_format":"base64"}"#)
        #expect(embedding.inputs == ["x"])
        #expect(embedding.encodingFormat == .base64)
        #expect(try decode(EmbeddingRequest.self, #"{"model":"m","input":"x"}"#).encodingFormat == .float)
    }

    @Test(
        "bad bodies become 400s that name the field",
        arguments: [
            (#"{"model":"m","messages":[{"role":"user","content":"x"}"#, nil, nil),
            (#"[1,2]"#, nil, nil),
            (#""#, nil, nil),
            (#"{"messages":[{"role":"user","content":"x"}]}"#, "model", "missing_required_parameter"),
            (#"{"model":"m"}"#, "messages", "missing_required_parameter"),
            (#"{"model":"m","messages":[]}"#, "messages", "invalid_value"),
            (#"{"model":"m","messages":[{"content":"x"}]}"#, "messages[0].role", "missing_required_parameter"),
            (#"{"model":"m","messages":[{"role":"user","content":5}]}"#, "messages[0].content", "invalid_type"),
            (
                #"{"model":"m","max_tokens":"ten","messages":[{"role":"user","content":"x"}]}"#, "max_tokens",
                "invalid_type"
            ),
            (#"{"model":7,"messages":[{"role":"user","content":"x"}]}"#, "model", "invalid_type"),
        ] as [(String, String?, String?)])
    func badChatBodies(json: String, param: String?, code: String?) {
        do {
            _ = try decode(ChatCompletionRequest.self, json)
            Issue.record("decoded an invalid body")
        } catch {
            #expect(error.status == .badRequest)
            #expect(error.param == param)
            #expect(error.code == code)
            #expect(error.type == "invalid_request_error")
        }
    }

    @Test("empty prompt and input arrays and unknown encodings are refused")
    func badInputs() {
        #expect(throws: SimulatorError.self) { try decode(CompletionRequest.self, #"{"model":"m","prompt":[]}"#) }
        #expect(throws: SimulatorError.self) { try decode(CompletionRequest.self, #"{"model":"m","prompt":[1]}"#) }
        #expect(throws: SimulatorError.self) { try decode(EmbeddingRequest.self, #"{"model":"m","input":[]}"#) }
        #expect(throws: SimulatorError.self) {
            try decode(EmbeddingRequest.self, #"{"model":"m","input":"x","encoding_format":"int8"}"#)
        }
    }
}

@Suite("Routes")
struct RouteTests {
    @Test("known paths with the right method, ignoring the query")
    func known() throws {
        #expect(try SimulatorRoute.resolve(method: .GET, uri: "/health").get() == .health)
        #expect(try SimulatorRoute.resolve(method: .GET, uri: "/metrics?x=1").get() == .metrics)
        #expect(try SimulatorRoute.resolve(method: .POST, uri: "/v1/chat/completions").get() == .chatCompletions)
    }

    @Test("wrong method is 405, unknown path 404")
    func refused() {
        #expect(throws: SimulatorError.methodNotAllowed(.GET, path: "/v1/embeddings", allowed: .POST)) {
            try SimulatorRoute.resolve(method: .GET, uri: "/v1/embeddings").get()
        }
        #expect(throws: SimulatorError.unknownPath("/v2/models")) {
            try SimulatorRoute.resolve(method: .GET, uri: "/v2/models").get()
        }
        #expect(SimulatorRoute.allowedMethod(uri: "/v1/models?x") == .GET)
    }
}
