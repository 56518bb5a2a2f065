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

    /// The usage in a `usage` object, whose integer members `member` reads: Chat Completions,
    /// Completions and Embeddings say `prompt_tokens`/`completion_tokens` (embeddings have no
    /// completion), the Responses API `input_tokens`/`output_tokens`.
    init?(member: (String) -> Int?) {
        if let prompt = member("prompt_tokens") {
            self.init(prompt: prompt, completion: member("completion_tokens") ?? 0)
        } else if let input = member("input_tokens") {
            self.init(prompt: input, completion: member("output_tokens") ?? 0)
        } else {
            return nil
        }
    }

    /// The usage in a parsed `usage` object.
    init?(usageObject usage: [String: Any]) {
        self.init(member: { usage[$0] as? Int })
    }

    /// The usage in the JSON text of a `usage` object, read without a JSON parser: only the
    /// object's own integer members are needed, and this runs once per request.
    init?(usageObjectText text: ArraySlice<UInt8>) {
        guard let members = FlatJSON.integerMembers(ofObject: text) else { return nil }
        self.init(member: { members[$0] })
    }
}
