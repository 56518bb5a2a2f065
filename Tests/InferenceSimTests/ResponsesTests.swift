import NIOCore
import NIOHTTP1
import Testing

@testable import InferenceSim

/// The Responses API (`POST /v1/responses`): its wire shapes byte for byte, its request decoding,
/// and its generation plan, which must match a chat completion's for the same conversation.
@Suite("Responses API")
struct ResponsesTests {
    static let stamp = ResponseStamp(id: "resp_test", created: 1_700_000_002)

    /// The constant fields between `temperature` and `top_p` in sorted-key order.
    static let fixedAfterTemperature = #""text":{"format":{"type":"text"}},"tool_choice":"auto","tools":[],"#

    func generation(_ request: ResponsesRequest) -> Generation {
        Generation(responses: request, stamp: Self.stamp, messageID: "msg_test")
    }

    @Test("a completed response, with every field the SDK reads")
    func completedShape() {
        let response = ResponseObject(
            id: "resp_1", createdAt: 42, status: .completed, model: "m",
            output: [.init(id: "msg_1", status: .completed, content: [.init(text: "Hello from")])],
            usage: ResponseUsage(Usage(promptTokens: 4, completionTokens: 2)), instructions: "be brief",
            maxOutputTokens: 2, temperature: 0.5
        )
        #expect(
            WireJSON.string(response)
                == #"{"background":false,"created_at":42,"error":null,"id":"resp_1","incomplete_details":null,"#
                + #""instructions":"be brief","max_output_tokens":2,"metadata":null,"model":"m","object":"response","#
                + #""output":[{"content":[{"annotations":[],"text":"Hello from","type":"output_text"}],"#
                + #""id":"msg_1","role":"assistant","status":"completed","type":"message"}],"#
                + #""parallel_tool_calls":true,"previous_response_id":null,"reasoning":null,"service_tier":"auto","#
                + #""status":"completed","temperature":0.5,"# + Self.fixedAfterTemperature
                + #""top_p":null,"truncation":"disabled","#
                + #""usage":{"input_tokens":4,"input_tokens_details":{"cache_write_tokens":0,"cached_tokens":0},"#
                + #""output_tokens":2,"output_tokens_details":{"reasoning_tokens":0},"total_tokens":6}}"#
        )
    }

    @Test("text events carry an empty logprobs list; other events only their own fields")
    func streamEventShapes() {
        let delta = ResponseStreamEvent(
            type: .outputTextDelta, sequenceNumber: 4, itemID: "msg_1", outputIndex: 0, contentIndex: 0, delta: " from"
        )
        #expect(
            WireJSON.string(delta)
                == #"{"content_index":0,"delta":" from","item_id":"msg_1","logprobs":[],"output_index":0,"#
                + #""sequence_number":4,"type":"response.output_text.delta"}"#
        )
        let added = ResponseStreamEvent(
            type: .outputItemAdded, sequenceNumber: 2, item: .init(id: "msg_1", status: .inProgress, content: []),
            outputIndex: 0
        )
        #expect(
            WireJSON.string(added)
                == #"{"item":{"content":[],"id":"msg_1","role":"assistant","status":"in_progress","type":"message"},"#
                + #""output_index":0,"sequence_number":2,"type":"response.output_item.added"}"#
        )
    }

    @Test("responses and events round-trip through their decoders")
    func roundTrip() throws {
        let request = ResponsesRequest(model: "m", input: [.init(role: "user", text: "hi")], stream: true)
        for event in generation(request).streamEvents() {
            let data = try #require(String(buffer: event.bytes).split(separator: "\n").last?.dropFirst("data: ".count))
            let decoded = try decodeJSON(ResponseStreamEvent.self, data)
            #expect(WireJSON.string(decoded) == String(data))
        }
    }

    @Test("input as a string, as messages with string or input_text content; instructions and limits")
    func requestDecoding() throws {
        let plain = try decode(ResponsesRequest.self, #"{"model":"m","input":"two words"}"#)
        #expect(plain.input == [ChatMessage(role: "user", text: "two words")])
        #expect(plain.instructions == nil)
        #expect(plain.maxOutputTokens == nil)
        #expect(!plain.stream)
        #expect(plain.priority == nil)

        let parts = try decode(
            ResponsesRequest.self,
            #"""
            {"model":"m","instructions":"be brief","max_output_tokens":5,"stream":true,"priority":-2,
             "temperature":0.3,"top_p":0.9,"tools":[],"store":false,"cache_salt":"tenant-a",
             "input":[{"role":"user","content":"one"},
                      {"type":"message","role":"assistant","content":[{"type":"output_text","text":"two"}]},
                      {"role":"user","content":[{"type":"input_text","text":"three four"},
                                                {"type":"input_image","image_url":"x"}]}]}
            """#
        )
        #expect(parts.input.map(\.text) == ["one", "two", "three four"])
        #expect(parts.input.map(\.role) == ["user", "assistant", "user"])
        #expect(parts.instructions == "be brief")
        #expect(parts.maxOutputTokens == 5)
        #expect(parts.stream)
        #expect(parts.priority == -2)
        #expect(parts.temperature == 0.3)
        #expect(parts.topP == 0.9)
        #expect(parts.promptMessages.first == ChatMessage(role: "system", text: "be brief"))
    }

    @Test(
        "bad bodies become 400s that name the field",
        arguments: [
            (#"{"model":"m"}"#, "input", "missing_required_parameter"),
            (#"{"input":"x"}"#, "model", "missing_required_parameter"),
            (#"{"model":"m","input":[]}"#, "input", "invalid_value"),
            (#"{"model":"m","input":5}"#, "input", "invalid_type"),
            (#"{"model":"m","input":[{"content":"x"}]}"#, "input[0].role", "missing_required_parameter"),
            (#"{"model":"m","input":[{"role":"user","content":5}]}"#, "input[0].content", "invalid_type"),
            (#"{"model":"m","input":"x","max_output_tokens":"ten"}"#, "max_output_tokens", "invalid_type"),
        ] as [(String, String?, String?)])
    func badBodies(json: String, param: String?, code: String?) {
        do {
            _ = try decode(ResponsesRequest.self, json)
            Issue.record("decoded an invalid body")
        } catch {
            #expect(error.status == .badRequest)
            #expect(error.param == param)
            #expect(error.code == code)
        }
    }

    @Test("text and usage equal a chat completion's for the same conversation")
    func sameAsChat() throws {
        let responses = try decode(
            ResponsesRequest.self,
            #"{"model":"m","instructions":"be brief","input":[{"role":"user","content":"Say hello, simulator"}]}"#
        )
        let chat = try decode(
            ChatCompletionRequest.self,
            #"{"model":"m","messages":[{"role":"system","content":"be brief"},"#
                + #"{"role":"user","content":"Say hello, simulator"}]}"#
        )
        let answer = generation(responses)
        let chatAnswer = Generation(chat: chat, stamp: GenerationTests.stamp)
        #expect(answer.usage == chatAnswer.usage)
        #expect(answer.usage == Usage(promptTokens: 3 + 4, completionTokens: 12))
        let body = try decodeJSON(ResponseObject.self, String(buffer: answer.response()))
        let chatBody = try decodeJSON(ChatCompletion.self, String(buffer: chatAnswer.response()))
        #expect(body.output.first?.content == [.init(text: chatBody.choices[0].message.content)])
        #expect(body.usage == ResponseUsage(chatAnswer.usage))

        // A string input is one user message, counted as chat counts one.
        let plain = generation(
            try decode(ResponsesRequest.self, #"{"model":"m","input":"a b","max_output_tokens":3}"#)
        )
        let plainChat = Generation(
            chat: .init(model: "m", messages: [.init(role: "user", text: "a b")], maxTokens: 3),
            stamp: GenerationTests.stamp
        )
        #expect(plain.usage == plainChat.usage)
        #expect(plain.completionTokens == 3)
    }

    @Test("a non-streamed response, byte for byte")
    func responseBody() {
        let request = ResponsesRequest(model: "m", input: [.init(role: "user", text: "hi")], maxOutputTokens: 2)
        #expect(
            String(buffer: generation(request).response())
                == #"{"background":false,"created_at":1700000002,"error":null,"id":"resp_test","#
                + #""incomplete_details":null,"instructions":null,"max_output_tokens":2,"metadata":null,"model":"m","#
                + #""object":"response","output":[{"content":[{"annotations":[],"text":"Hello from","#
                + #""type":"output_text"}],"id":"msg_test","role":"assistant","status":"completed","type":"message"}],"#
                + #""parallel_tool_calls":true,"previous_response_id":null,"reasoning":null,"service_tier":"auto","#
                + #""status":"completed","temperature":null,"# + Self.fixedAfterTemperature
                + #""top_p":null,"truncation":"disabled","#
                + #""usage":{"input_tokens":2,"input_tokens_details":{"cache_write_tokens":0,"cached_tokens":0},"#
                + #""output_tokens":2,"output_tokens_details":{"reasoning_tokens":0},"total_tokens":4}}"#
        )
    }

    @Test("a stream: named events in OpenAI's order, numbered from 0, one paced delta per token, no [DONE]")
    func streamOrder() throws {
        let request = ResponsesRequest(
            model: "m", input: [.init(role: "user", text: "hi")], maxOutputTokens: 2, stream: true
        )
        let planned = generation(request).streamEvents()
        #expect(planned.map(\.tokenIndex) == [nil, nil, nil, nil, 0, 1, nil, nil, nil, nil])

        let texts = planned.map { String(buffer: $0.bytes) }
        #expect(!texts.contains { $0.contains("[DONE]") })
        var events: [ResponseStreamEvent] = []
        for text in texts {
            let lines = text.split(separator: "\n", omittingEmptySubsequences: false)
            try #require(lines.count == 4 && lines[2].isEmpty && lines[3].isEmpty)
            #expect(lines[0].hasPrefix("event: "))
            #expect(lines[1].hasPrefix("data: "))
            let event = try decodeJSON(ResponseStreamEvent.self, lines[1].dropFirst("data: ".count))
            #expect(lines[0].dropFirst("event: ".count) == event.type.rawValue)
            events.append(event)
        }
        #expect(
            events.map(\.type) == [
                .created, .inProgress, .outputItemAdded, .contentPartAdded, .outputTextDelta, .outputTextDelta,
                .outputTextDone, .contentPartDone, .outputItemDone, .completed,
            ]
        )
        #expect(events.map(\.sequenceNumber) == Array(0..<10))
        #expect(events[0].response?.status == .inProgress)
        #expect(events[0].response?.output == [])
        #expect(events[0].response?.usage == nil)
        #expect(events[2].item == .init(id: "msg_test", status: .inProgress, content: []))
        #expect(events[3].part == .init(text: ""))
        #expect(events[4...5].compactMap(\.delta) == ["Hello", " from"])
        #expect(events[4...7].allSatisfy { $0.itemID == "msg_test" && $0.outputIndex == 0 && $0.contentIndex == 0 })
        #expect(events[6].text == "Hello from")
        #expect(events[7].part == .init(text: "Hello from"))
        #expect(events[8].item == .init(id: "msg_test", status: .completed, content: [.init(text: "Hello from")]))
        let whole = try decodeJSON(ResponseObject.self, String(buffer: generation(request).response()))
        #expect(events[9].response == whole)
        #expect(events[9].response?.usage == ResponseUsage(Usage(promptTokens: 2, completionTokens: 2)))
        #expect(
            texts[4] == "event: response.output_text.delta\n"
                + #"data: {"content_index":0,"delta":"Hello","item_id":"msg_test","logprobs":[],"output_index":0,"#
                + #""sequence_number":4,"type":"response.output_text.delta"}"# + "\n\n"
        )
    }

    @Test("the route is POST /v1/responses and reads a body")
    func route() throws {
        #expect(try SimulatorRoute.resolve(method: .POST, uri: "/v1/responses").get() == .responses)
        #expect(SimulatorRoute.responses.takesBody)
        #expect(throws: SimulatorError.methodNotAllowed(.GET, path: "/v1/responses", allowed: .POST)) {
            try SimulatorRoute.resolve(method: .GET, uri: "/v1/responses").get()
        }
    }
}
