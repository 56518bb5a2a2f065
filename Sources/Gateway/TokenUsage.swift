import Foundation

/// The tokens one request used, as its worker reported them.
public struct TokenUsage: Sendable, Equatable {
    public var prompt: Int
    public var completion: Int

    public init(prompt: Int, completion: Int) {
        self.prompt = prompt
        self.completion = completion
    }

    public var total: Int { prompt + completion }

    /// The usage in a `usage` object: Chat Completions, Completions and Embeddings say
    /// `prompt_tokens`/`completion_tokens` (embeddings have no completion), the Responses API
    /// `input_tokens`/`output_tokens`.
    init?(usageObject usage: [String: Any]) {
        if let prompt = usage["prompt_tokens"] as? Int {
            self.init(prompt: prompt, completion: usage["completion_tokens"] as? Int ?? 0)
        } else if let input = usage["input_tokens"] as? Int {
            self.init(prompt: input, completion: usage["output_tokens"] as? Int ?? 0)
        } else {
            return nil
        }
    }

    /// The usage in a JSON text: a `usage` object itself, a top-level `usage` (Chat Completions,
    /// Completions, Embeddings), or `response.usage` (the Responses API's `response.completed`).
    init?(json bytes: some Collection<UInt8>) {
        guard let object = try? JSONSerialization.jsonObject(with: Data(bytes)) as? [String: Any] else { return nil }
        if object["prompt_tokens"] != nil || object["input_tokens"] != nil {
            self.init(usageObject: object)
        } else if let usage = object["usage"] as? [String: Any] {
            self.init(usageObject: usage)
        } else if let response = object["response"] as? [String: Any], let usage = response["usage"] as? [String: Any] {
            self.init(usageObject: usage)
        } else {
            return nil
        }
    }
}
