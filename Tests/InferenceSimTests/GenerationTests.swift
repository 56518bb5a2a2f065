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
