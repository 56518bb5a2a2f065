import Foundation

/// A chat completion request's body, as an OpenAI SDK sends it.
package struct ChatRequest: Sendable {
    package var model: String
    package var prompt: String
    package var maxTokens: Int?
    package var stream: Bool
    /// `stream_options.include_usage`; nil sends no `stream_options`.
    package var includeUsage: Bool?

    package init(
        model: String = "sim-small", prompt: String = "tell me a long story", maxTokens: Int? = nil,
        stream: Bool = false, includeUsage: Bool? = nil
    ) {
        self.model = model
        self.prompt = prompt
        self.maxTokens = maxTokens
        self.stream = stream
        self.includeUsage = includeUsage
    }

    /// The JSON text.
    package var json: String {
        var body: [String: Any] = [
            "model": model, "messages": [["role": "user", "content": prompt]], "stream": stream,
        ]
        if let maxTokens { body["max_tokens"] = maxTokens }
        if let includeUsage { body["stream_options"] = ["include_usage": includeUsage] }
        guard let data = try? JSONSerialization.data(withJSONObject: body, options: [.sortedKeys]) else {
            preconditionFailure("a dictionary of strings, numbers and booleans is JSON")
        }
        return String(decoding: data, as: UTF8.self)
    }
}
