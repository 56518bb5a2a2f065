import Foundation
@testable import Gateway
import NIOCore
import NIOHTTP1
import Testing

@Suite struct UsageAccountingTests {
    static let chunk = #"data: {"id":"c1","object":"chat.completion.chunk","choices":[{"index":0,"delta":{"content":"Hi"}}]}"# + "\n\n"
    static let usageChunk =
        #"data: {"id":"c1","object":"chat.completion.chunk","choices":[],"usage":{"prompt_tokens":12,"completion_tokens":7,"total_tokens":19}}"#
        + "\n\n"
    static let done = "data: [DONE]\n\n"

    func run(_ pieces: [String], removing: Bool) -> (String, TokenUsage?) {
        var filter = UsageStreamFilter(removesUsageChunk: removing)
        var out = ""
        for piece in pieces { out += String(buffer: filter.pass(ByteBuffer(string: piece))) }
        out += String(buffer: filter.finish())
        return (out, filter.usage)
    }

    @Test func theUsageChunkTheGatewayAskedForIsReadAndRemoved() {
        let (out, usage) = run([Self.chunk, Self.usageChunk, Self.done], removing: true)
        #expect(out == Self.chunk + Self.done)
        #expect(usage == TokenUsage(prompt: 12, completion: 7))
    }

    @Test func aClientThatAskedForUsageGetsItUntouched() {
        let (out, usage) = run([Self.chunk, Self.usageChunk, Self.done], removing: false)
        #expect(out == Self.chunk + Self.usageChunk + Self.done)
        #expect(usage?.total == 19)
    }

    @Test func eventsSplitAcrossReadsAreReassembledAndNothingIsLost() {
        let whole = Self.chunk + Self.usageChunk + Self.done
        let bytes = Array(whole.utf8)
        for cut in stride(from: 1, to: bytes.count, by: 7) {
            let pieces = [String(decoding: bytes[..<cut], as: UTF8.self), String(decoding: bytes[cut...], as: UTF8.self)]
            let (out, usage) = run(pieces, removing: true)
            #expect(out == Self.chunk + Self.done, "cut at \(cut)")
            #expect(usage?.total == 19, "cut at \(cut)")
        }
    }

    @Test func aCompleteEventInOneReadGoesOutInThatRead() {
        var filter = UsageStreamFilter(removesUsageChunk: true)
        #expect(String(buffer: filter.pass(ByteBuffer(string: Self.chunk))) == Self.chunk)
        #expect(String(buffer: filter.pass(ByteBuffer(string: "data: {\"choices\""))) == "")
    }

    @Test func responsesAPIUsageIsReadFromTheCompletedEvent() {
        let completed =
            "event: response.completed\n"
            + #"data: {"type":"response.completed","response":{"id":"r","usage":{"input_tokens":5,"output_tokens":9,"total_tokens":14}}}"#
            + "\n\n"
        let (out, usage) = run([completed], removing: false)
        #expect(out == completed)
        #expect(usage == TokenUsage(prompt: 5, completion: 9))
    }

    @Test func wholeJSONBodiesOfEachEndpointGiveTheirUsage() {
        let chat = #"{"choices":[],"usage":{"prompt_tokens":3,"completion_tokens":4,"total_tokens":7}}"#
        let embeddings = #"{"data":[],"usage":{"prompt_tokens":8,"total_tokens":8}}"#
        let responses = #"{"object":"response","usage":{"input_tokens":2,"output_tokens":6}}"#
        func usage(_ body: String) -> TokenUsage? {
            var tail = UsageTail()
            tail.append(ByteBuffer(string: body))
            return tail.usage
        }
        #expect(usage(chat) == TokenUsage(prompt: 3, completion: 4))
        #expect(usage(embeddings) == TokenUsage(prompt: 8, completion: 0))
        #expect(usage(responses) == TokenUsage(prompt: 2, completion: 6))
        #expect(usage("not json") == nil)
        #expect(usage(#"{"usage":"none"}"#) == nil)
    }

    @Test func aUsageObjectsIntegersAreReadWithoutAParser() {
        func members(_ text: String) -> [String: Int]? { FlatJSON.integerMembers(ofObject: Array(text.utf8)[...]) }
        #expect(members(#"{}"#) == [:])
        #expect(members(#" { "prompt_tokens" : 12 , "completion_tokens":7 } "#) == ["prompt_tokens": 12, "completion_tokens": 7])
        // Nested objects, strings with braces and quotes, fractions and literals are skipped, not misread.
        #expect(
            members(#"{"details":{"cached_tokens":99,"x":[1,{"y":2}]},"note":"a \"}\" {","ratio":0.5,"ok":true,"n":-3,"e":1e3}"#)
                == ["n": -3]
        )
        #expect(members(#"{"prompt_tokens":3"#) == nil)
        #expect(members(#"["prompt_tokens",3]"#) == nil)
        #expect(members(#"{"a":"unterminated}"#) == nil)
    }

    @Test func aLargeAnswersUsageIsFoundInItsTail() {
        var tail = UsageTail()
        tail.append(ByteBuffer(string: #"{"object":"list","data":["#))
        let item = #"{"object":"embedding","index":0,"embedding":[0.1,0.2,"not }{ a brace"]},"#
        for _ in 0..<50_000 { tail.append(ByteBuffer(string: item)) }  // several MB, far past the kept tail
        tail.append(ByteBuffer(string: #"{}],"model":"m","usage": {"prompt_tokens":50000,"total_tokens":50000}}"#))
        #expect(tail.usage == TokenUsage(prompt: 50_000, completion: 0))

        var responses = UsageTail()
        responses.append(ByteBuffer(string: #"{"object":"response","output":[],"usage":{"input_tokens":3,"output_tokens":4,"#))
        responses.append(ByteBuffer(string: #""input_tokens_details":{"cached_tokens":0}},"user":null}"#))
        #expect(responses.usage == TokenUsage(prompt: 3, completion: 4))

        var none = UsageTail()
        none.append(ByteBuffer(string: #"{"error":{"message":"no usage here"}}"#))
        #expect(none.usage == nil)
    }

    func body(_ text: String) -> RequestBody {
        guard case .success(let body) = RequestBody.parse(ByteBuffer(string: text)) else { fatalError(text) }
        return body
    }

    @Test func usageIsAskedForOnStreamsThatDoNotAskThemselves() {
        let chat = "/v1/chat/completions"
        #expect(body(#"{"model":"m","stream":true}"#).streamOptions(path: chat, continuousUsage: false)
            == .json(#"{"include_usage":true}"#))
        #expect(body(#"{"model":"m","stream":true,"stream_options":{"continuous_usage_stats":false}}"#)
            .streamOptions(path: "/v1/completions", continuousUsage: false)
            == .json(#"{"continuous_usage_stats":false,"include_usage":true}"#))
        #expect(body(#"{"model":"m","stream":true,"stream_options":{"include_usage":true}}"#)
            .streamOptions(path: chat, continuousUsage: false) == nil)
        #expect(body(#"{"model":"m"}"#).streamOptions(path: chat, continuousUsage: true) == nil)
        #expect(body(#"{"model":"m","stream":true}"#).streamOptions(path: "/v1/responses", continuousUsage: true) == nil)
    }

    @Test func vLLMIsAskedForContinuousUsageEvenWhenTheClientAskedForTheFinalChunk() {
        let chat = "/v1/chat/completions"
        #expect(body(#"{"model":"m","stream":true}"#).streamOptions(path: chat, continuousUsage: true)
            == .json(#"{"continuous_usage_stats":true,"include_usage":true}"#))
        let asked = body(#"{"model":"m","stream":true,"stream_options":{"include_usage":true}}"#)
        #expect(asked.streamOptions(path: chat, continuousUsage: true) == .json(#"{"continuous_usage_stats":true,"include_usage":true}"#))
        #expect(asked.streamFilterOptions(path: chat, continuousUsage: true) == StreamFilterOptions(removesUsageChunk: false, removesChunkUsage: true))
        let both = body(#"{"model":"m","stream":true,"stream_options":{"include_usage":true,"continuous_usage_stats":true}}"#)
        #expect(both.streamOptions(path: chat, continuousUsage: true) == nil)
        #expect(both.streamFilterOptions(path: chat, continuousUsage: true) == StreamFilterOptions())
        #expect(body(#"{"model":"m","stream":true}"#).streamFilterOptions(path: chat, continuousUsage: false)
            == StreamFilterOptions(removesUsageChunk: true, removesChunkUsage: false))
    }

    @Test func theLargestTokenBoundIsWhatIsHeldBack() {
        #expect(body(#"{"model":"m","max_tokens":40}"#).maxTokens == 40)
        #expect(body(#"{"model":"m","max_tokens":40,"max_completion_tokens":90}"#).maxTokens == 90)
        #expect(body(#"{"model":"m","max_output_tokens":-3}"#).maxTokens == 0)
        #expect(body(#"{"model":"m","stream_options":{},"max_tokens":12}"#).maxTokens == 12)
        #expect(body(#"{"model":"m"}"#).maxTokens == nil)
    }

    @Test func badBodiesGetOpenAIErrors() {
        guard case .failure(let notJSON) = RequestBody.parse(ByteBuffer(string: "model=m")) else { Issue.record(); return }
        #expect(notJSON.status == .badRequest && notJSON.code == "invalid_request_body")
        guard case .failure(let noModel) = RequestBody.parse(ByteBuffer(string: "{}")) else { Issue.record(); return }
        #expect(noModel.code == "missing_model" && noModel.param == "model")
    }
}
