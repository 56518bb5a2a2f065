/// The simulator's deterministic "model": the same request always yields the same words, so tests
/// anywhere in the project can predict a completion and its usage without running the server.
public enum SimulatedText {
    /// The vocabulary; token `i` of every completion is `words[i % words.count]`.
    public static let words = ["Hello", "from", "the", "popgate", "inference", "simulator."]

    /// Completion length when the request sets no token limit.
    public static let defaultTokenCount = 12

    /// The completion lengths the simulator produces; requested limits are clamped into it.
    public static let tokenCountRange = 1...4096

    /// The completion length for a request whose limit (`max_tokens` or `max_completion_tokens`) is
    /// `requested`: the default when absent, otherwise clamped into ``tokenCountRange``.
    public static func completionTokenCount(requested: Int?) -> Int {
        guard let requested else { return defaultTokenCount }
        return min(max(requested, tokenCountRange.lowerBound), tokenCountRange.upperBound)
    }

    /// The first `count` tokens of a completion, without separators: `vocabulary` cycled (an empty
    /// vocabulary counts as ``words``).
    public static func tokens(count: Int, vocabulary: [String] = words) -> [String] {
        let vocabulary = vocabulary.isEmpty ? words : vocabulary
        return (0..<max(count, 0)).map { vocabulary[$0 % vocabulary.count] }
    }

    /// A completion of `count` tokens as one string: the tokens joined by single spaces.
    public static func text(count: Int, vocabulary: [String] = words) -> String {
        tokens(count: count, vocabulary: vocabulary).joined(separator: " ")
    }

    /// The tokens as a stream delivers them: every token after the first carries its leading
    /// space, so concatenating the pieces gives exactly ``text(count:vocabulary:)``.
    public static func streamPieces(count: Int, vocabulary: [String] = words) -> [String] {
        tokens(count: count, vocabulary: vocabulary).enumerated().map { index, token in
            index == 0 ? token : " " + token
        }
    }

    /// The vocabulary of an echoing simulator (`--echo-prompt`): the words of `prompt`, so a test can
    /// follow text it chose through the whole path and back; ``words`` when the prompt has none.
    public static func echoVocabulary(_ prompt: String) -> [String] {
        let echoed = prompt.split(whereSeparator: \.isWhitespace).map(String.init)
        return echoed.isEmpty ? words : echoed
    }

    /// The number of whitespace-separated words in `text`, the simulator's stand-in for a tokenizer.
    public static func wordCount(_ text: String) -> Int {
        text.split(whereSeparator: \.isWhitespace).count
    }

    /// Prompt tokens of a chat request: the words of every message's text, plus one per message
    /// (the role marker a chat template adds).
    public static func promptTokens(messages: [ChatMessage]) -> Int {
        messages.reduce(0) { total, message in total + wordCount(message.text) + 1 }
    }

    /// Prompt tokens of a legacy completion or an embedding request: the words of every input.
    public static func promptTokens(inputs: [String]) -> Int {
        inputs.reduce(0) { total, input in total + wordCount(input) }
    }
}
