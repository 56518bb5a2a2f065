/// A `POST /v1/responses` body (OpenAI's Responses API). As for the other endpoints, only the fields
/// the simulator acts on or echoes are decoded; tools, reasoning, `store` and the rest are ignored.
public struct ResponsesRequest: Sendable, Equatable, Decodable {
    /// The model asked for.
    public var model: String
    /// `input` as messages: one `user` message when it was a string; never empty.
    public var input: [ChatMessage]
    /// `instructions`: a system message ahead of the input, as vLLM renders it.
    public var instructions: String?
    /// `max_output_tokens`; nil when not sent.
    public var maxOutputTokens: Int?
    /// Whether the answer is streamed as server-sent events.
    public var stream: Bool
    /// vLLM's scheduling `priority`; the simulator only records it.
    public var priority: Int?
    /// `temperature`, echoed in the response as OpenAI does; it changes nothing here.
    public var temperature: Double?
    /// `top_p`, echoed like `temperature`.
    public var topP: Double?

    /// Creates a request.
    public init(
        model: String, input: [ChatMessage], instructions: String? = nil, maxOutputTokens: Int? = nil,
        stream: Bool = false, priority: Int? = nil, temperature: Double? = nil, topP: Double? = nil
    ) {
        self.model = model
        self.input = input
        self.instructions = instructions
        self.maxOutputTokens = maxOutputTokens
        self.stream = stream
        self.priority = priority
        self.temperature = temperature
        self.topP = topP
    }

    /// The conversation the prompt is made of: the instructions first, then the input. Counting its
    /// tokens like a chat's makes a response's usage equal a chat completion's for the same text.
    public var promptMessages: [ChatMessage] {
        (instructions.map { [ChatMessage(role: "system", text: $0)] } ?? []) + input
    }

    enum CodingKeys: String, CodingKey {
        case model, input, instructions, stream, priority, temperature
        case maxOutputTokens = "max_output_tokens"
        case topP = "top_p"
    }

    /// Decodes the JSON body.
    public init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
        let input = try container.decode(ResponsesInput.self, forKey: .input).messages
        guard !input.isEmpty else {
            throw DecodingError.dataCorruptedError(
                forKey: .input, in: container, debugDescription: "'input' must not be an empty array."
            )
        }
        self.init(
            model: try container.decode(String.self, forKey: .model),
            input: input,
            instructions: try container.decodeIfPresent(String.self, forKey: .instructions),
            maxOutputTokens: try container.decodeIfPresent(Int.self, forKey: .maxOutputTokens),
            stream: try container.decodeIfPresent(Bool.self, forKey: .stream) ?? false,
            priority: try container.decodeIfPresent(Int.self, forKey: .priority),
            temperature: try container.decodeIfPresent(Double.self, forKey: .temperature),
            topP: try container.decodeIfPresent(Double.self, forKey: .topP)
        )
    }
}

extension ResponsesRequest: PrioritizedRequest {}

/// `input` is either one string (a user message) or a list of input items. Every item must be a
/// message with a role: tool-call items have none and are refused, as a chat message without a
/// role is, since the simulator has no tools to answer them with.
private struct ResponsesInput: Decodable {
    let messages: [ChatMessage]

    private struct Item: Decodable {
        let message: ChatMessage

        enum CodingKeys: String, CodingKey { case role, content }

        /// Earlier assistant turns replayed in the input carry `output_text` parts.
        static let textPartTypes: Set<String> = ["input_text", "output_text"]

        init(from decoder: any Decoder) throws {
            let container = try decoder.container(keyedBy: CodingKeys.self)
            let role = try container.decode(String.self, forKey: .role)
            let content = try container.decodeIfPresent(MessageContent.self, forKey: .content)
            message = ChatMessage(role: role, text: content?.text(partTypes: Self.textPartTypes) ?? "")
        }
    }

    init(from decoder: any Decoder) throws {
        let container = try decoder.singleValueContainer()
        if let string = try? container.decode(String.self) {
            messages = [ChatMessage(role: "user", text: string)]
        } else {
            // Decoded without `try?` so that a bad item's error names its field (`input[1].role`).
            messages = try container.decode([Item].self).map(\.message)
        }
    }
}
