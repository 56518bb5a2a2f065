import NIOCore
import NIOHTTP1
import Testing

@testable import InferenceSim

/// `--echo-prompt`: completions made of the client's own words, so that integration tests can follow
/// text of their choosing (a canary) out of the simulator and through the gateway. Off, nothing changes.
@Suite("Echoing the prompt")
struct EchoPromptTests {
    static let stamp = ResponseStamp(id: "x-test", created: 1)

    func streamedText(_ generation: Generation) -> [String] {
        generation.streamEvents().map { String(buffer: $0.bytes) }
    }

    @Test("the echo vocabulary is the prompt's words, or the fixed words when it has none")
    func vocabulary() {
        #expect(SimulatedText.echoVocabulary("  remember\tCANARY-1 now\n") == ["remember", "CANARY-1", "now"])
        #expect(SimulatedText.echoVocabulary("") == SimulatedText.words)
        #expect(SimulatedText.echoVocabulary(" \n ") == SimulatedText.words)
        #expect(SimulatedText.text(count: 5, vocabulary: ["a", "b"]) == "a b a b a")
        #expect(SimulatedText.streamPieces(count: 3, vocabulary: ["a", "b"]) == ["a", " b", " a"])
        #expect(SimulatedText.text(count: 2, vocabulary: []) == "Hello from")
    }

    @Test("a chat echoes its last user message, cycled to the token count, plain and streamed")
    func chat() {
        let messages: [ChatMessage] = [
            .init(role: "system", text: "operator words"), .init(role: "user", text: "first turn"),
            .init(role: "user", text: "say CANARY-7"), .init(role: "assistant", text: "an earlier answer"),
        ]
        let plain = Generation(
            chat: ChatCompletionRequest(model: "m", messages: messages, maxTokens: 5), stamp: Self.stamp,
            echoPrompt: true
        )
        #expect(String(buffer: plain.response()).contains(#""content":"say CANARY-7 say CANARY-7 say""#))
        // Echoing changes the words only: the counts are the default simulator's.
        #expect(plain.usage == Usage(promptTokens: 2 + 2 + 2 + 3 + 4, completionTokens: 5))

        let streamed = Generation(
            chat: ChatCompletionRequest(model: "m", messages: messages, maxTokens: 3, stream: true),
            stamp: Self.stamp, echoPrompt: true
        )
        let events = streamedText(streamed)
        #expect(events[1].contains(#""content":"say""#))
        #expect(events[2].contains(#""content":" CANARY-7""#))
        #expect(events[3].contains(#""content":" say""#))
    }

    @Test("a chat without a user message echoes its last message")
    func chatWithoutUser() {
        let request = ChatCompletionRequest(model: "m", messages: [.init(role: "system", text: "only this")])
        let generation = Generation(chat: request, stamp: Self.stamp, echoPrompt: true)
        #expect(generation.vocabulary == ["only", "this"])
    }

    @Test("a legacy completion echoes its last prompt")
    func completion() {
        let request = CompletionRequest(model: "m", prompts: ["not me", "echo CANARY-8"], maxTokens: 3)
        let generation = Generation(completion: request, stamp: Self.stamp, echoPrompt: true)
        #expect(String(buffer: generation.response()).contains(#""text":"echo CANARY-8 echo""#))
    }

    @Test("a response echoes its last user input, never the instructions, plain and streamed")
    func responses() {
        let request = ResponsesRequest(
            model: "m", input: [.init(role: "user", text: "input CANARY-9")], instructions: "operator words",
            maxOutputTokens: 2, stream: true
        )
        let generation = Generation(responses: request, stamp: Self.stamp, messageID: "msg_x", echoPrompt: true)
        #expect(generation.vocabulary == ["input", "CANARY-9"])
        let events = streamedText(generation)
        #expect(events.contains { $0.contains(#""delta":" CANARY-9""#) })
        #expect(events.last?.contains(#""text":"input CANARY-9""#) == true)
    }

    @Test("without the option every endpoint keeps the fixed words")
    func offByDefault() throws {
        let chat = Generation(
            chat: ChatCompletionRequest(model: "m", messages: [.init(role: "user", text: "CANARY-1")]),
            stamp: Self.stamp
        )
        let completion = Generation(completion: CompletionRequest(model: "m", prompts: ["CANARY-2"]), stamp: Self.stamp)
        let response = Generation(
            responses: ResponsesRequest(model: "m", input: [.init(role: "user", text: "CANARY-3")]), stamp: Self.stamp,
            messageID: "msg_x"
        )
        for generation in [chat, completion, response] {
            #expect(generation.vocabulary == SimulatedText.words)
            #expect(!String(buffer: generation.response()).contains("CANARY"))
        }
        let options = try SimulatorOptions(listen: ListenAddress(host: "127.0.0.1", port: 0), models: ["m"])
        #expect(!options.echoPrompt)
    }

    @Test("an echoing server answers with the prompt's words", .timeLimit(.minutes(1)))
    func endToEnd() async throws {
        try await withSimulator(echoPrompt: true) { server in
            let body = #"{"model":"sim-small","max_tokens":4,"messages":[{"role":"user","content":"hi CANARY-10"}]}"#
            let response = try await fetch(port: server.port, .POST, "/v1/chat/completions", body: body)
            #expect(response.status == .ok)
            let completion = try decodeJSON(ChatCompletion.self, response.body)
            #expect(completion.choices.first?.message.content == "hi CANARY-10 hi CANARY-10")
        }
    }
}
