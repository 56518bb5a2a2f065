/// A non-streamed `POST /v1/chat/completions` answer (`object: "chat.completion"`).
public struct ChatCompletion: Sendable, Equatable, Codable {
    /// One generated alternative; the simulator always produces exactly one.
    public struct Choice: Sendable, Equatable, Codable {
        /// The assistant's reply.
        public struct Message: Sendable, Equatable, Codable {
            /// Always `assistant`.
            public var role: String
            /// The generated text.
            public var content: String

            /// Creates a message.
            public init(role: String = "assistant", content: String) {
                self.role = role
                self.content = content
            }
        }

        /// Position among the choices.
        public var index: Int
        /// The reply.
        public var message: Message
        /// Why generation stopped.
        public var finishReason: FinishReason

        /// Creates a choice.
        public init(index: Int = 0, message: Message, finishReason: FinishReason) {
            self.index = index
            self.message = message
            self.finishReason = finishReason
        }

        enum CodingKeys: String, CodingKey {
            case index, message
            case finishReason = "finish_reason"
        }
    }

    /// `chatcmpl-` and random hex.
    public var id: String
    /// Always `chat.completion`.
    public var object: String
    /// Unix seconds.
    public var created: Int
    /// The model that was asked for.
    public var model: String
    /// The alternatives.
    public var choices: [Choice]
    /// Token counts.
    public var usage: Usage
    /// llama.cpp's build, which it sends as the fingerprint; absent from vLLM's answers.
    public var systemFingerprint: String?
    /// llama.cpp's timings; absent from vLLM's answers.
    public var timings: LlamaCppTimings?

    /// Creates a completion.
    public init(
        id: String, created: Int, model: String, choices: [Choice], usage: Usage, systemFingerprint: String? = nil,
        timings: LlamaCppTimings? = nil
    ) {
        self.id = id
        self.object = "chat.completion"
        self.created = created
        self.model = model
        self.choices = choices
        self.usage = usage
        self.systemFingerprint = systemFingerprint
        self.timings = timings
    }

    enum CodingKeys: String, CodingKey {
        case id, object, created, model, choices, usage, timings
        case systemFingerprint = "system_fingerprint"
    }
}

/// One server-sent event of a streamed chat completion (`object: "chat.completion.chunk"`).
///
/// `usage` is present only on the final usage chunk of a stream that asked for it with
/// `stream_options.include_usage`, and also on every other chunk when vLLM's
/// `continuous_usage_stats` was asked for too (then with the counts so far). Otherwise a chunk
/// leaves the key out rather than sending `"usage": null` as OpenAI does; clients treat the two alike.
public struct ChatCompletionChunk: Sendable, Equatable, Codable {
    /// The part of a choice that this chunk adds.
    public struct Choice: Sendable, Equatable, Codable {
        /// New text for the choice; both fields absent in the closing chunk (`"delta": {}`).
        public struct Delta: Sendable, Equatable, Codable {
            /// `assistant` in the first chunk only.
            public var role: String?
            /// The next piece of text.
            public var content: String?

            /// Creates a delta.
            public init(role: String? = nil, content: String? = nil) {
                self.role = role
                self.content = content
            }

            enum CodingKeys: String, CodingKey { case role, content }

            /// A delta that names the role always has a `content` key: vLLM's role chunk sends `""`,
            /// llama.cpp's an explicit null. The closing delta has neither key.
            public func encode(to encoder: any Encoder) throws {
                var container = encoder.container(keyedBy: CodingKeys.self)
                try container.encodeIfPresent(role, forKey: .role)
                if role != nil {
                    try container.encode(content, forKey: .content)
                } else {
                    try container.encodeIfPresent(content, forKey: .content)
                }
            }
        }

        /// Position among the choices.
        public var index: Int
        /// What this chunk adds.
        public var delta: Delta
        /// Null until the closing chunk.
        public var finishReason: FinishReason?

        /// Creates a chunk choice.
        public init(index: Int = 0, delta: Delta, finishReason: FinishReason? = nil) {
            self.index = index
            self.delta = delta
            self.finishReason = finishReason
        }

        enum CodingKeys: String, CodingKey {
            case index, delta
            case finishReason = "finish_reason"
        }

        /// Encodes `finish_reason` as an explicit null while generation runs, as OpenAI does.
        public func encode(to encoder: any Encoder) throws {
            var container = encoder.container(keyedBy: CodingKeys.self)
            try container.encode(index, forKey: .index)
            try container.encode(delta, forKey: .delta)
            try container.encode(finishReason, forKey: .finishReason)
        }
    }

    /// The same id in every chunk of one stream.
    public var id: String
    /// Always `chat.completion.chunk`.
    public var object: String
    /// Unix seconds, the same in every chunk of one stream.
    public var created: Int
    /// The model that was asked for.
    public var model: String
    /// One entry per choice, empty in the usage chunk.
    public var choices: [Choice]
    /// Present only in the usage chunk, or in every chunk with continuous usage; see the type's note.
    public var usage: Usage?
    /// llama.cpp's build, on every chunk of its streams; absent from vLLM's.
    public var systemFingerprint: String?
    /// llama.cpp's timings: on the stream's last chunk, and with `timings_per_token` on every content
    /// chunk (see ``LlamaCppTimings``); absent from vLLM's.
    public var timings: LlamaCppTimings?

    /// Creates a chunk.
    public init(
        id: String, created: Int, model: String, choices: [Choice], usage: Usage? = nil,
        systemFingerprint: String? = nil, timings: LlamaCppTimings? = nil
    ) {
        self.id = id
        self.object = "chat.completion.chunk"
        self.created = created
        self.model = model
        self.choices = choices
        self.usage = usage
        self.systemFingerprint = systemFingerprint
        self.timings = timings
    }

    enum CodingKeys: String, CodingKey {
        case id, object, created, model, choices, usage, timings
        case systemFingerprint = "system_fingerprint"
    }
}
