/// A legacy `POST /v1/completions` answer, streamed or not (`object: "text_completion"` in both
/// cases, as OpenAI sends it).
///
/// When streamed, `usage` is present only in the final usage chunk of a stream that asked for it
/// with `stream_options.include_usage`, and left out of every other chunk unless vLLM's
/// `continuous_usage_stats` was asked for too: then every chunk carries the counts so far.
/// llama.cpp instead always puts the usage on the finish chunk and sends no usage chunk.
public struct TextCompletion: Sendable, Equatable, Codable {
    /// One generated alternative, or in a stream the piece of it this chunk adds.
    public struct Choice: Sendable, Equatable, Codable {
        /// Position among the choices.
        public var index: Int
        /// The generated text (or the next piece of it).
        public var text: String
        /// Null until the stream's closing chunk; always set when not streamed.
        public var finishReason: FinishReason?

        /// Creates a choice.
        public init(index: Int = 0, text: String, finishReason: FinishReason?) {
            self.index = index
            self.text = text
            self.finishReason = finishReason
        }

        enum CodingKeys: String, CodingKey {
            case index, text, logprobs
            case finishReason = "finish_reason"
        }

        /// Decodes a choice; `logprobs` is ignored.
        public init(from decoder: any Decoder) throws {
            let container = try decoder.container(keyedBy: CodingKeys.self)
            index = try container.decode(Int.self, forKey: .index)
            text = try container.decode(String.self, forKey: .text)
            finishReason = try container.decodeIfPresent(FinishReason.self, forKey: .finishReason)
        }

        /// Encodes the legacy shape: explicit nulls for `logprobs` (never computed) and for an
        /// unfinished `finish_reason`.
        public func encode(to encoder: any Encoder) throws {
            var container = encoder.container(keyedBy: CodingKeys.self)
            try container.encode(index, forKey: .index)
            try container.encode(text, forKey: .text)
            try container.encodeNil(forKey: .logprobs)
            try container.encode(finishReason, forKey: .finishReason)
        }
    }

    /// `cmpl-` and random hex; the same in every chunk of one stream.
    public var id: String
    /// Always `text_completion`.
    public var object: String
    /// Unix seconds.
    public var created: Int
    /// The model that was asked for.
    public var model: String
    /// The alternatives; empty in a stream's usage chunk.
    public var choices: [Choice]
    /// Token counts; see the type's note for streams.
    public var usage: Usage?
    /// llama.cpp's build, which it sends as the fingerprint; absent from vLLM's answers.
    public var systemFingerprint: String?
    /// llama.cpp's timings (see ``LlamaCppTimings``); absent from vLLM's answers.
    public var timings: LlamaCppTimings?

    /// Creates a completion or chunk.
    public init(
        id: String, created: Int, model: String, choices: [Choice], usage: Usage?, systemFingerprint: String? = nil,
        timings: LlamaCppTimings? = nil
    ) {
        self.id = id
        self.object = "text_completion"
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
