// What an echoing simulator (`--echo-prompt`) repeats: the text a client most recently wrote. The
// default simulator never looks at it; echoing exists so that tests can follow text of their own
// choosing (a canary) through the gateway into the completion and back out to the client.

extension ChatCompletionRequest {
    /// The last user message's text; the last message's when no message is the user's.
    var echoedPrompt: String { messages.lastUserText }
}

extension CompletionRequest {
    /// The last prompt: a batch of prompts gets one completion here, so it repeats the newest.
    var echoedPrompt: String { prompts.last ?? "" }
}

extension ResponsesRequest {
    /// The last user input's text (never the instructions, which the operator's client wrote).
    var echoedPrompt: String { input.lastUserText }
}

extension [ChatMessage] {
    fileprivate var lastUserText: String {
        (last { $0.role == "user" } ?? last)?.text ?? ""
    }
}
