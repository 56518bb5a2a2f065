// The request bodies the simulator reads. Only the fields it acts on are decoded; everything else
// a client sends (temperature, tools, user, ...) is ignored, as a permissive server would.

/// One chat message, reduced to what the simulator needs: its role and its text.
public struct ChatMessage: Sendable, Equatable, Decodable {
    /// `system`, `user`, `assistant`, ...; not interpreted.
    public var role: String
    /// The message's text: `content` when it is a string, its text parts joined by spaces when it
    /// is an array of parts, empty when it is null or absent (an assistant turn with tool calls).
    public var text: String

    /// Creates a message.
    public init(role: String, text: String) {
        self.role = role
        self.text = text
    }

    enum CodingKeys: String, CodingKey { case role, content }

    /// Decodes OpenAI's message object.
    public init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
        role = try container.decode(String.self, forKey: .role)
        text = try container.decodeIfPresent(MessageContent.self, forKey: .content)?.text(partTypes: ["text"]) ?? ""
    }
}

/// `content` is either a string or an array of typed parts; only text parts carry words, and
/// which part types hold text differs by API (`text` in chat, `input_text` in the Responses API).
struct MessageContent: Decodable {
    private let string: String?
    private let parts: [Part]

    private struct Part: Decodable {
        let type: String?
        let text: String?
    }

    /// The string itself, or the text of the untyped parts and those whose type is in `partTypes`,
    /// joined by spaces.
    func text(partTypes: Set<String>) -> String {
        if let string { return string }
        // Images and audio count for nothing: the simulator has no encoder for them.
        return parts.filter { $0.type.map(partTypes.contains) ?? true }.compactMap(\.text).joined(separator: " ")
    }

    init(from decoder: any Decoder) throws {
        let container = try decoder.singleValueContainer()
        if let string = try? container.decode(String.self) {
            self.string = string
            parts = []
        } else if let parts = try? container.decode([Part].self) {
            string = nil
            self.parts = parts
        } else {
            throw DecodingError.typeMismatch(
                String.self,
                .init(
                    codingPath: container.codingPath, debugDescription: "expected a string or an array of content parts"
                )
            )
        }
    }
}

/// `prompt` and `input` are either one string or an array of strings.
private struct TextInputs: Decodable {
    let values: [String]

    init(from decoder: any Decoder) throws {
        let container = try decoder.singleValueContainer()
        if let string = try? container.decode(String.self) {
            values = [string]
        } else if let strings = try? container.decode([String].self) {
            values = strings
        } else {
            throw DecodingError.typeMismatch(
                [String].self,
                .init(codingPath: container.codingPath, debugDescription: "expected a string or an array of strings")
            )
        }
    }
}

/// `stream_options`: OpenAI's `include_usage` and vLLM's `continuous_usage_stats`.
private struct StreamOptions: Decodable {
    let includeUsage: Bool?
    let continuousUsageStats: Bool?

    enum CodingKeys: String, CodingKey {
        case includeUsage = "include_usage"
        case continuousUsageStats = "continuous_usage_stats"
    }
}

/// The keys shared by chat and legacy completion requests.
private enum GenerationKeys: String, CodingKey {
    case model, messages, prompt, stream, priority
    case maxTokens = "max_tokens"
    case maxCompletionTokens = "max_completion_tokens"
    case streamOptions = "stream_options"
    case timingsPerToken = "timings_per_token"
}

/// The fields of a generation request that shape the simulated answer.
private struct GenerationFields {
    let model: String
    let maxTokens: Int?
    let stream: Bool
    let includeUsage: Bool
    let continuousUsageStats: Bool
    let priority: Int?
    let timingsPerToken: Bool

    init(_ container: KeyedDecodingContainer<GenerationKeys>) throws {
        model = try container.decode(String.self, forKey: .model)
        // OpenAI deprecated max_tokens for max_completion_tokens; the newer name wins when both are sent.
        let maxCompletionTokens = try container.decodeIfPresent(Int.self, forKey: .maxCompletionTokens)
        maxTokens = try maxCompletionTokens ?? container.decodeIfPresent(Int.self, forKey: .maxTokens)
        stream = try container.decodeIfPresent(Bool.self, forKey: .stream) ?? false
        let streamOptions = try container.decodeIfPresent(StreamOptions.self, forKey: .streamOptions)
        includeUsage = streamOptions?.includeUsage ?? false
        continuousUsageStats = streamOptions?.continuousUsageStats ?? false
        priority = try container.decodeIfPresent(Int.self, forKey: .priority)
        timingsPerToken = try container.decodeIfPresent(Bool.self, forKey: .timingsPerToken) ?? false
    }
}

/// A `POST /v1/chat/completions` body.
public struct ChatCompletionRequest: Sendable, Equatable, Decodable {
    /// The model asked for.
    public var model: String
    /// The conversation; never empty.
    public var messages: [ChatMessage]
    /// `max_completion_tokens`, else `max_tokens`; nil when neither was sent.
    public var maxTokens: Int?
    /// Whether the answer is streamed as server-sent events.
    public var stream: Bool
    /// `stream_options.include_usage`: whether a stream ends with a usage chunk.
    public var includeUsage: Bool
    /// vLLM's `stream_options.continuous_usage_stats`: with ``includeUsage``, every chunk also
    /// carries the usage so far. Without it, it has no effect, as in vLLM.
    public var continuousUsageStats: Bool
    /// vLLM's scheduling `priority`; the simulator only records it.
    public var priority: Int?
    /// llama.cpp's `timings_per_token`: every content chunk of a stream carries the timings so far.
    public var timingsPerToken: Bool

    /// Creates a request.
    public init(
        model: String, messages: [ChatMessage], maxTokens: Int? = nil, stream: Bool = false,
        includeUsage: Bool = false, continuousUsageStats: Bool = false, priority: Int? = nil,
        timingsPerToken: Bool = false
    ) {
        self.model = model
        self.messages = messages
        self.maxTokens = maxTokens
        self.stream = stream
        self.includeUsage = includeUsage
        self.continuousUsageStats = continuousUsageStats
        self.priority = priority
        self.timingsPerToken = timingsPerToken
    }

    /// Decodes the JSON body.
    public init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: GenerationKeys.self)
        let fields = try GenerationFields(container)
        let messages = try container.decode([ChatMessage].self, forKey: .messages)
        guard !messages.isEmpty else {
            throw DecodingError.dataCorruptedError(
                forKey: .messages, in: container, debugDescription: "'messages' must contain at least one message."
            )
        }
        self.init(
            model: fields.model, messages: messages, maxTokens: fields.maxTokens, stream: fields.stream,
            includeUsage: fields.includeUsage, continuousUsageStats: fields.continuousUsageStats,
            priority: fields.priority, timingsPerToken: fields.timingsPerToken
        )
    }
}

/// A `POST /v1/completions` (legacy) body.
public struct CompletionRequest: Sendable, Equatable, Decodable {
    /// The model asked for.
    public var model: String
    /// `prompt`, as a list even when one string was sent; never empty.
    public var prompts: [String]
    /// `max_tokens` (or `max_completion_tokens`); nil when neither was sent.
    public var maxTokens: Int?
    /// Whether the answer is streamed as server-sent events.
    public var stream: Bool
    /// `stream_options.include_usage`: whether a stream ends with a usage chunk.
    public var includeUsage: Bool
    /// vLLM's `stream_options.continuous_usage_stats`: with ``includeUsage``, every chunk also
    /// carries the usage so far. Without it, it has no effect, as in vLLM.
    public var continuousUsageStats: Bool
    /// vLLM's scheduling `priority`; the simulator only records it.
    public var priority: Int?
    /// llama.cpp's `timings_per_token`: every content chunk of a stream carries the timings so far.
    public var timingsPerToken: Bool

    /// Creates a request.
    public init(
        model: String, prompts: [String], maxTokens: Int? = nil, stream: Bool = false, includeUsage: Bool = false,
        continuousUsageStats: Bool = false, priority: Int? = nil, timingsPerToken: Bool = false
    ) {
        self.model = model
        self.prompts = prompts
        self.maxTokens = maxTokens
        self.stream = stream
        self.includeUsage = includeUsage
        self.continuousUsageStats = continuousUsageStats
        self.priority = priority
        self.timingsPerToken = timingsPerToken
    }

    /// Decodes the JSON body.
    public init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: GenerationKeys.self)
        let fields = try GenerationFields(container)
        let prompts = try container.decode(TextInputs.self, forKey: .prompt).values
        guard !prompts.isEmpty else {
            throw DecodingError.dataCorruptedError(
                forKey: .prompt, in: container, debugDescription: "'prompt' must not be an empty array."
            )
        }
        self.init(
            model: fields.model, prompts: prompts, maxTokens: fields.maxTokens, stream: fields.stream,
            includeUsage: fields.includeUsage, continuousUsageStats: fields.continuousUsageStats,
            priority: fields.priority, timingsPerToken: fields.timingsPerToken
        )
    }
}

/// A `POST /v1/embeddings` body.
public struct EmbeddingRequest: Sendable, Equatable, Decodable {
    /// How the vectors are written in the response.
    public enum EncodingFormat: String, Sendable, Equatable, Decodable {
        /// JSON arrays of numbers (OpenAI's default).
        case float
        /// Base64 of little-endian float32 values (what OpenAI's Python SDK asks for by default).
        case base64
    }

    /// The model asked for.
    public var model: String
    /// `input`, as a list even when one string was sent; never empty.
    public var inputs: [String]
    /// `encoding_format`; `float` when absent.
    public var encodingFormat: EncodingFormat
    /// vLLM's scheduling `priority`; the simulator only records it.
    public var priority: Int?

    /// Creates a request.
    public init(model: String, inputs: [String], encodingFormat: EncodingFormat = .float, priority: Int? = nil) {
        self.model = model
        self.inputs = inputs
        self.encodingFormat = encodingFormat
        self.priority = priority
    }

    enum CodingKeys: String, CodingKey {
        case model, input, priority
        case encodingFormat = "encoding_format"
    }

    /// Decodes the JSON body.
    public init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
        let inputs = try container.decode(TextInputs.self, forKey: .input).values
        guard !inputs.isEmpty else {
            throw DecodingError.dataCorruptedError(
                forKey: .input, in: container, debugDescription: "'input' must not be an empty array."
            )
        }
        self.init(
            model: try container.decode(String.self, forKey: .model),
            inputs: inputs,
            encodingFormat: try container.decodeIfPresent(EncodingFormat.self, forKey: .encodingFormat) ?? .float,
            priority: try container.decodeIfPresent(Int.self, forKey: .priority)
        )
    }
}

/// A request that may carry vLLM's scheduling `priority`.
protocol PrioritizedRequest {
    var priority: Int? { get }
}

extension ChatCompletionRequest: PrioritizedRequest {}
extension CompletionRequest: PrioritizedRequest {}
extension EmbeddingRequest: PrioritizedRequest {}
