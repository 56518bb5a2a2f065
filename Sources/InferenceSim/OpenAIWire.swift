import NIOCore

#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif

/// Why a generation stopped, as OpenAI reports it.
public enum FinishReason: String, Sendable, Equatable, Codable {
    /// The model finished on its own: the request set no token limit.
    case stop
    /// The request's token limit was reached.
    case length
}

/// Token counts of a completion, OpenAI's `usage` object.
public struct Usage: Sendable, Equatable, Codable {
    /// Tokens in the prompt.
    public var promptTokens: Int
    /// Tokens generated.
    public var completionTokens: Int
    /// Their sum.
    public var totalTokens: Int
    /// How many prompt tokens came from a cache; left out where the imitated engine leaves it out
    /// (vLLM unless asked to report it), sent by llama.cpp on every usage.
    public var promptTokensDetails: PromptTokensDetails?

    /// The break-down of the prompt's tokens.
    public struct PromptTokensDetails: Sendable, Equatable, Codable {
        /// Prompt tokens read from a cache rather than computed.
        public var cachedTokens: Int

        /// Creates details.
        public init(cachedTokens: Int) {
            self.cachedTokens = cachedTokens
        }

        enum CodingKeys: String, CodingKey {
            case cachedTokens = "cached_tokens"
        }
    }

    /// Creates usage with the total filled in.
    public init(promptTokens: Int, completionTokens: Int, promptTokensDetails: PromptTokensDetails? = nil) {
        self.promptTokens = promptTokens
        self.completionTokens = completionTokens
        self.totalTokens = promptTokens + completionTokens
        self.promptTokensDetails = promptTokensDetails
    }

    enum CodingKeys: String, CodingKey {
        case promptTokens = "prompt_tokens"
        case completionTokens = "completion_tokens"
        case totalTokens = "total_tokens"
        case promptTokensDetails = "prompt_tokens_details"
    }
}

/// The one JSON configuration for every body the simulator writes.
///
/// Keys are sorted so that equal responses are equal bytes (swift-foundation's encoder otherwise
/// emits keys in a per-process random order); key order carries no meaning in JSON.
public enum WireJSON {
    /// `value` as JSON bytes.
    public static func encode(_ value: some Encodable) -> ByteBuffer {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        do {
            return ByteBuffer(bytes: try encoder.encode(value))
        } catch {
            // Only non-finite floats fail to encode, and the simulator never produces one.
            preconditionFailure("encoding a simulator response failed: \(error)")
        }
    }

    /// `value` as a JSON string (for tests and logs of shapes, never of request content).
    public static func string(_ value: some Encodable) -> String {
        String(buffer: encode(value))
    }

    /// Decodes `type` from a request body, mapping every failure to the OpenAI-style 400 a client
    /// should see.
    public static func decode<T: Decodable>(_ type: T.Type, from body: ByteBuffer) throws(SimulatorError) -> T {
        do {
            return try JSONDecoder().decode(type, from: Data(body.readableBytesView))
        } catch let error as DecodingError {
            throw SimulatorError.invalidRequest(error)
        } catch {
            throw SimulatorError.invalidJSON
        }
    }
}
