import InferenceSim
import NIOCore
import NIOHTTP1
import Testing

/// `POST /v1/responses` against the real server on loopback.
@Suite("Responses API end to end", .timeLimit(.minutes(1)))
struct ResponsesEndToEndTests {
    static let input = #""input":[{"role":"user","content":[{"type":"input_text","text":"Say hello, simulator"}]}]"#

    /// The events of a Responses API stream: each an `event:` line naming its type and a `data:`
    /// line, decoded.
    func events(_ body: String) throws -> [ResponseStreamEvent] {
        try body.split(separator: "\n\n", omittingEmptySubsequences: true).map { block in
            let lines = block.split(separator: "\n")
            try #require(lines.count == 2)
            let event = try decodeJSON(ResponseStreamEvent.self, lines[1].dropFirst("data: ".count))
            #expect(lines[0] == "event: \(event.type.rawValue)")
            #expect(lines[1].hasPrefix("data: "))
            return event
        }
    }

    @Test("a response, then the same streamed, carry chat's text and usage and count in the metrics")
    func responseAndStream() async throws {
        try await withSimulator(tokensPerSecond: 1000) { server in
            try await TestHTTPConnection.with(port: server.port) { connection in
                let chat = try await connection.request(
                    .POST, "/v1/chat/completions", body: ServerEndToEndTests.chatBody
                )
                let completion = try decodeJSON(ChatCompletion.self, chat.body)

                let whole = try await connection.request(
                    .POST, "/v1/responses", body: #"{"model":"sim-small","# + Self.input + "}"
                )
                #expect(whole.status == .ok)
                #expect(whole.header("Content-Type") == "application/json")
                #expect(whole.header("Content-Length") == "\(whole.body.utf8.count)")
                let response = try decodeJSON(ResponseObject.self, whole.body)
                #expect(response.id.hasPrefix("resp_"))
                #expect(response.status == .completed)
                #expect(response.model == "sim-small")
                #expect(response.output.count == 1)
                #expect(response.output[0].id.hasPrefix("msg_"))
                #expect(response.output[0].content == [.init(text: completion.choices[0].message.content)])
                #expect(response.usage == ResponseUsage(completion.usage))

                let streamed = try await connection.request(
                    .POST, "/v1/responses", body: #"{"model":"sim-small","stream":true,"# + Self.input + "}"
                )
                #expect(streamed.status == .ok)
                #expect(streamed.header("Content-Type") == "text/event-stream")
                #expect(streamed.header("Transfer-Encoding") == "chunked")
                #expect(!streamed.body.contains("[DONE]"))
                let events = try events(streamed.body)
                #expect(events.count == 4 + 12 + 4)
                #expect(events.map(\.sequenceNumber) == Array(0..<events.count))
                #expect(events.first?.type == .created)
                #expect(events.last?.type == .completed)
                #expect(events.filter { $0.type == .outputTextDelta }.count == 12)
                #expect(events.compactMap(\.delta).joined() == completion.choices[0].message.content)
                let completed = try #require(events.last?.response)
                #expect(completed.output[0].content == response.output[0].content)
                #expect(completed.usage == ResponseUsage(completion.usage))
                #expect(Set(events.compactMap { $0.response?.id }).count == 1)

                // Three generations of 4 prompt and 12 generated tokens each, all finished.
                let metrics = try await connection.request(.GET, "/metrics")
                #expect(metrics.body.contains("vllm:num_requests_running{model_name=\"sim-small\"} 0.0\n"))
                #expect(metrics.body.contains("vllm:prompt_tokens_total{model_name=\"sim-small\"} 12.0\n"))
                #expect(metrics.body.contains("vllm:generation_tokens_total{model_name=\"sim-small\"} 36.0\n"))
                #expect(metrics.body.contains("vllm:request_success_total{model_name=\"sim-small\"} 3.0\n"))
            }
        }
    }

    @Test("a streamed response is paced like chat: its first part leaves before the last token is due")
    func streamIsIncremental() async throws {
        try await withSimulator(tokensPerSecond: 5) { server in
            try await TestHTTPConnection.with(port: server.port) { connection in
                try await connection.send(
                    .POST, "/v1/responses",
                    body: #"{"model":"sim-small","stream":true,"max_output_tokens":2,"input":"x"}"#
                )
                let head = try await connection.receiveHead()
                #expect(head.status == .ok)
                let first = try #require(try await connection.receiveBodyPart())
                #expect(String(buffer: first).hasPrefix("event: response.created\n"))
                #expect(!String(buffer: first).contains("response.completed"))
                let rest = try await connection.receiveBody(head: head)
                #expect(rest.body.contains("event: response.completed\n"))
            }
        }
    }

    @Test("in-flight responses show as running, then waiting beyond max-running")
    func gauges() async throws {
        try await withSimulator(tokensPerSecond: 1, maxRunning: 1, priorityScheduling: true) { server in
            let slow = #"{"model":"sim-small","stream":true,"max_output_tokens":50,"priority":7,"input":"x"}"#
            try await TestHTTPConnection.with(port: server.port) { first in
                try await first.send(.POST, "/v1/responses", body: slow)
                _ = try await first.receiveHead()  // admitted before the head is sent
                try await TestHTTPConnection.with(port: server.port) { second in
                    try await second.send(.POST, "/v1/responses", body: slow)
                    _ = try await second.receiveHead()
                    let metrics = try await fetch(port: server.port, .GET, "/metrics").body
                    #expect(metrics.contains("vllm:num_requests_running{model_name=\"sim-small\"} 1.0\n"))
                    #expect(metrics.contains("vllm:num_requests_waiting{model_name=\"sim-small\"} 1.0\n"))
                    #expect(metrics.contains("popgate_sim_last_priority{model_name=\"sim-small\"} 7.0\n"))
                }
            }
        }
    }

    @Test("unknown model is chat's 404; bad bodies and priority under fcfs are 400; the connection stays")
    func refusals() async throws {
        try await withSimulator { server in
            try await TestHTTPConnection.with(port: server.port) { connection in
                let unknown = try await connection.request(
                    .POST, "/v1/responses", body: #"{"model":"gpt-4o","input":"x"}"#
                )
                let chatUnknown = try await connection.request(
                    .POST, "/v1/chat/completions",
                    body: #"{"model":"gpt-4o","messages":[{"role":"user","content":"x"}]}"#
                )
                #expect(unknown.status == .notFound)
                #expect(unknown.body == chatUnknown.body)

                let invalid = try await connection.request(.POST, "/v1/responses", body: #"{"model": "sim-"#)
                #expect(invalid.status == .badRequest)
                #expect(invalid.body.contains(#""type":"invalid_request_error""#))

                let missing = try await connection.request(.POST, "/v1/responses", body: #"{"model":"sim-small"}"#)
                #expect(missing.status == .badRequest)
                #expect(missing.body.contains(#""param":"input""#))

                let priority = try await connection.request(
                    .POST, "/v1/responses", body: #"{"model":"sim-small","input":"x","priority":10}"#
                )
                #expect(priority.status == .ok)

                let method = try await connection.request(.GET, "/v1/responses")
                #expect(method.status == .methodNotAllowed)
                #expect(method.header("Allow") == "POST")
            }
        }
    }
}
