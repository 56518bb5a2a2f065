import NIOCore
import Testing

@testable import InferenceSim

@Suite("Generation plans")
struct GenerationTests {
    static let stamp = ResponseStamp(id: "chatcmpl-test", created: 1_700_000_001)

    func events(_ generation: Generation) -> [String] {
        generation.streamEvents().map { String(buffer: $0.bytes) }
    }

    @Test("a chat without a limit stops with the default text")
    func chatDefault() {
        let request = ChatCompletionRequest(model: "m", messages: [.init(role: "user", text: "hi there")])
        let generation = Generation(chat: request, stamp: Self.stamp)
        #expect(generation.completionTokens == 12)
        #expect(generation.promptTokens == 3)
        #expect(generation.finishReason == .stop)
        #expect(
            String(buffer: generation.response())
                == #"{"choices":[{"finish_reason":"stop","index":0,"message":{"content":"Hello from the popgate "#
                + #"inference simulator. Hello from the popgate inference simulator.","role":"assistant"}}],"#
                + #""created":1700000001,"id":"chatcmpl-test","model":"m","object":"chat.completion","#
                + #""usage":{"completion_tokens":12,"prompt_tokens":3,"total_tokens":15}}"#
        )
    }

    @Test("a chat stream: role chunk, one chunk per token, closing chunk, usage chunk, [DONE]")
    func chatStream() throws {
        let request = ChatCompletionRequest(
            model: "m", messages: [.init(role: "user", text: "hi")], maxTokens: 2, stream: true, includeUsage: true
        )
        let generation = Generation(chat: request, stamp: Self.stamp)
        let frame = #""created":1700000001,"id":"chatcmpl-test","model":"m","object":"chat.completion.chunk""#
        #expect(
            events(generation) == [
                #"data: {"choices":[{"delta":{"content":"","role":"assistant"},"finish_reason":null,"index":0}],"#
                    + frame + "}\n\n",
                #"data: {"choices":[{"delta":{"content":"Hello"},"finish_reason":null,"index":0}],"# + frame + "}\n\n",
                #"data: {"choices":[{"delta":{"content":" from"},"finish_reason":null,"index":0}],"# + frame + "}\n\n",
                #"data: {"choices":[{"delta":{},"finish_reason":"length","index":0}],"# + frame + "}\n\n",
                #"data: {"choices":[],"# + frame
                    + #","usage":{"completion_tokens":2,"prompt_tokens":2,"total_tokens":4}}"# + "\n\n",
                "data: [DONE]\n\n",
            ]
        )
        #expect(generation.streamEvents().map(\.tokenIndex) == [nil, 0, 1, nil, nil, nil])
    }

    @Test("without include_usage no chunk carries usage")
    func chatStreamWithoutUsage() {
        let request = ChatCompletionRequest(model: "m", messages: [.init(role: "user", text: "hi")], stream: true)
        let all = events(Generation(chat: request, stamp: Self.stamp))
        #expect(all.count == 12 + 3)
        #expect(all.allSatisfy { !$0.contains("usage") })
        #expect(all.last == "data: [DONE]\n\n")
    }

    @Test("a legacy completion stream has no role chunk and text pieces")
    func completionStream() {
        let request = CompletionRequest(
            model: "m", prompts: ["a b", "c"], maxTokens: 3, stream: true, includeUsage: true)
        let generation = Generation(completion: request, stamp: ResponseStamp(id: "cmpl-x", created: 5))
        let all = events(generation)
        #expect(all.count == 3 + 3)
        #expect(all[0].contains(#""text":"Hello""#))
        #expect(all[2].contains(#""text":" the""#))
        #expect(all[3].contains(#""finish_reason":"length""#))
        #expect(all[4].contains(#""usage":{"completion_tokens":3,"prompt_tokens":3,"total_tokens":6}"#))
        #expect(all.allSatisfy { $0.contains(#""object":"text_completion""#) || $0 == "data: [DONE]\n\n" })
    }

    @Test("continuous usage: every chat chunk carries the counts so far, and the usage chunk still comes")
    func chatStreamContinuousUsage() {
        let request = ChatCompletionRequest(
            model: "m", messages: [.init(role: "user", text: "hi")], maxTokens: 2, stream: true, includeUsage: true,
            continuousUsageStats: true
        )
        let generation = Generation(chat: request, stamp: Self.stamp)
        let frame = #""created":1700000001,"id":"chatcmpl-test","model":"m","object":"chat.completion.chunk""#
        func usage(_ completion: Int) -> String {
            #","usage":{"completion_tokens":\#(completion),"prompt_tokens":2,"total_tokens":\#(2 + completion)}"#
        }
        // As vLLM's serving_chat.py: the role chunk counts none, each token's chunk counts it.
        #expect(
            events(generation) == [
                #"data: {"choices":[{"delta":{"content":"","role":"assistant"},"finish_reason":null,"index":0}],"#
                    + frame + usage(0) + "}\n\n",
                #"data: {"choices":[{"delta":{"content":"Hello"},"finish_reason":null,"index":0}],"# + frame
                    + usage(1) + "}\n\n",
                #"data: {"choices":[{"delta":{"content":" from"},"finish_reason":null,"index":0}],"# + frame
                    + usage(2) + "}\n\n",
                #"data: {"choices":[{"delta":{},"finish_reason":"length","index":0}],"# + frame + usage(2) + "}\n\n",
                #"data: {"choices":[],"# + frame + usage(2) + "}\n\n",
                "data: [DONE]\n\n",
            ]
        )
        #expect(generation.streamEvents().map(\.tokenIndex) == [nil, 0, 1, nil, nil, nil])
    }

    @Test("continuous usage: every legacy completion chunk carries the counts so far")
    func completionStreamContinuousUsage() throws {
        let request = CompletionRequest(
            model: "m", prompts: ["a b", "c"], maxTokens: 3, stream: true, includeUsage: true,
            continuousUsageStats: true
        )
        let generation = Generation(completion: request, stamp: ResponseStamp(id: "cmpl-x", created: 5))
        let all = events(generation)
        #expect(all.count == 3 + 3)
        #expect(all.last == "data: [DONE]\n\n")
        let chunks = try all.dropLast().map { event in
            try decodeJSON(TextCompletion.self, event.dropFirst("data: ".count))
        }
        #expect(chunks.map(\.usage?.completionTokens) == [1, 2, 3, 3, 3])
        for chunk in chunks {
            let usage = try #require(chunk.usage)
            #expect(usage.promptTokens == 3 && usage.totalTokens == 3 + usage.completionTokens)
        }
        #expect(chunks[3].choices.first?.finishReason == .length)
        #expect(chunks[4].choices.isEmpty)
    }

    @Test(
        "continuous_usage_stats without include_usage changes nothing, as in vLLM",
        arguments: [false, true]
    )
    func continuousUsageNeedsIncludeUsage(chat: Bool) {
        let generation =
            chat
            ? Generation(
                chat: ChatCompletionRequest(
                    model: "m", messages: [.init(role: "user", text: "hi")], maxTokens: 3, stream: true,
                    continuousUsageStats: true
                ),
                stamp: Self.stamp
            )
            : Generation(
                completion: CompletionRequest(
                    model: "m", prompts: ["hi"], maxTokens: 3, stream: true, continuousUsageStats: true
                ),
                stamp: Self.stamp
            )
        let all = events(generation)
        #expect(all.count == (chat ? 6 : 5))
        #expect(all.allSatisfy { !$0.contains("usage") })
    }

    @Test("response ids carry the prefix and 24 hex digits")
    func stamps() {
        let stamp = ResponseStamp.make(prefix: "chatcmpl-")
        #expect(stamp.id.hasPrefix("chatcmpl-"))
        let hex = stamp.id.dropFirst("chatcmpl-".count)
        #expect(hex.count == 24)
        #expect(hex.allSatisfy { $0.isHexDigit })
        #expect(stamp.created > 1_700_000_000)
    }
}
