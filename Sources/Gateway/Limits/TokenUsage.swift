import Foundation

/// The tokens one request used, as its worker reported them.
public struct TokenUsage: Sendable, Equatable {
    public var prompt: Int
    public var completion: Int

    public init(prompt: Int, completion: Int) {
        self.prompt = prompt
        self.completion = completion
    }

    /// Both counts; a sum past `Int.max` (only a broken or hostile worker reports one) stays at it.
    public var total: Int {
        let (sum, overflow) = prompt.addingReportingOverflow(completion)
        return overflow ? (prompt > 0 ? .max : .min) : sum
    }

    /// The usage in a `usage` object, whose integer members `member` reads: Chat Completions,
    /// Completions and Embeddings say `prompt_tokens`/`completion_tokens` (embeddings have no
    /// completion), the Responses API `input_tokens`/`output_tokens`.
    ///
    /// A negative count is no count: it would lower what the caller is charged (and what the
    /// metrics count) by whatever the worker says.
    init?(member: (String) -> Int?) {
        func count(_ name: String) -> Int? { member(name).flatMap { $0 >= 0 ? $0 : nil } }
        if let prompt = count("prompt_tokens") {
            self.init(prompt: prompt, completion: count("completion_tokens") ?? 0)
        } else if let input = count("input_tokens") {
            self.init(prompt: input, completion: count("output_tokens") ?? 0)
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
    package init?(usageObjectText text: ArraySlice<UInt8>) {
        guard let members = FlatJSON.integerMembers(ofObject: text) else { return nil }
        self.init(member: { members[$0] })
    }

    /// The counts so far in llama.cpp's `timings` object, which its server adds to every streamed
    /// chunk when asked with `timings_per_token`: the prompt is the tokens it evaluated
    /// (`prompt_n`) plus those it took from its prompt cache (`cache_n`), the completion the tokens
    /// generated (`predicted_n`). Nil without `prompt_n` and `predicted_n`, or with a negative count.
    package init?(timingsObjectText text: ArraySlice<UInt8>) {
        guard let members = FlatJSON.integerMembers(ofObject: text),
              let evaluated = members["prompt_n"], let predicted = members["predicted_n"],
              evaluated >= 0, predicted >= 0
        else { return nil }
        let cached = max(members["cache_n"] ?? 0, 0)
        let (prompt, overflow) = evaluated.addingReportingOverflow(cached)
        self.init(prompt: overflow ? .max : prompt, completion: predicted)
    }
}
