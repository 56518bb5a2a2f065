/// The `POST /v1/embeddings` answer.
public struct EmbeddingList: Sendable, Equatable, Codable {
    /// A vector as written on the wire.
    public enum Vector: Sendable, Equatable, Codable {
        /// `encoding_format: "float"`: an array of numbers.
        case floats([Float])
        /// `encoding_format: "base64"`: little-endian float32 values, base64-encoded.
        case base64(String)

        /// Decodes either form.
        public init(from decoder: any Decoder) throws {
            let container = try decoder.singleValueContainer()
            if let text = try? container.decode(String.self) {
                self = .base64(text)
            } else {
                self = .floats(try container.decode([Float].self))
            }
        }

        /// Encodes the bare array or string.
        public func encode(to encoder: any Encoder) throws {
            var container = encoder.singleValueContainer()
            switch self {
            case .floats(let values): try container.encode(values)
            case .base64(let text): try container.encode(text)
            }
        }
    }

    /// One input's vector.
    public struct Embedding: Sendable, Equatable, Codable {
        /// Always `embedding`.
        public var object: String
        /// The position of the input it belongs to.
        public var index: Int
        /// The vector.
        public var embedding: Vector

        /// Creates an entry.
        public init(index: Int, embedding: Vector) {
            self.object = "embedding"
            self.index = index
            self.embedding = embedding
        }
    }

    /// Token counts; an embedding generates nothing, so the total equals the prompt.
    public struct Usage: Sendable, Equatable, Codable {
        /// Tokens in the inputs.
        public var promptTokens: Int
        /// Equal to `promptTokens`.
        public var totalTokens: Int

        /// Usage for `promptTokens` input tokens.
        public init(promptTokens: Int) {
            self.promptTokens = promptTokens
            self.totalTokens = promptTokens
        }

        enum CodingKeys: String, CodingKey {
            case promptTokens = "prompt_tokens"
            case totalTokens = "total_tokens"
        }
    }

    /// Always `list`.
    public var object: String
    /// One entry per input, in input order.
    public var data: [Embedding]
    /// The model that was asked for.
    public var model: String
    /// Token counts.
    public var usage: Usage

    /// Creates a response.
    public init(data: [Embedding], model: String, usage: Usage) {
        self.object = "list"
        self.data = data
        self.model = model
        self.usage = usage
    }
}
