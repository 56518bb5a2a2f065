import NIOCore

/// One simulated chat completion, legacy completion or response, resolved from its request into
/// the exact text, counts and bodies the simulator will send. Pure: the HTTP layer adds only the
/// timing.
struct Generation: Sendable {
    /// Which API shape the answer takes.
    enum Endpoint: Sendable {
        case chat
        case completion
        /// The Responses API, with what its answer echoes from the request.
        case responses(ResponsesEcho)
    }

    /// One piece of a streamed answer.
    struct StreamEvent: Sendable {
        /// For a token's event, its position: the event is due once that many plus one tokens'
        /// worth of time has passed. Nil for the framing events, sent as soon as they are reached.
        var tokenIndex: Int?
        /// The SSE bytes.
        var bytes: ByteBuffer
    }

    let endpoint: Endpoint
    let id: String
    let created: Int
    let model: String
    let promptTokens: Int
    let completionTokens: Int
    let finishReason: FinishReason
    let stream: Bool
    let includeUsage: Bool
    /// vLLM's continuous usage: every chunk of the stream carries the usage so far. Only with
    /// `include_usage`, as vLLM has it.
    let continuousUsage: Bool
    let priority: Int?
    /// The words the completion cycles through: ``SimulatedText/words``, or with `--echo-prompt`
    /// the words of the prompt.
    let vocabulary: [String]

    /// The vocabulary for a request whose newest prompt text is `prompt`.
    static func vocabulary(echoing prompt: @autoclosure () -> String, echoPrompt: Bool) -> [String] {
        echoPrompt ? SimulatedText.echoVocabulary(prompt()) : SimulatedText.words
    }

    init(chat request: ChatCompletionRequest, stamp: ResponseStamp, echoPrompt: Bool = false) {
        self.endpoint = .chat
        self.id = stamp.id
        self.created = stamp.created
        self.model = request.model
        self.promptTokens = SimulatedText.promptTokens(messages: request.messages)
        self.completionTokens = SimulatedText.completionTokenCount(requested: request.maxTokens)
        self.finishReason = request.maxTokens == nil ? .stop : .length
        self.stream = request.stream
        self.includeUsage = request.includeUsage
        self.continuousUsage = request.includeUsage && request.continuousUsageStats
        self.priority = request.priority
        self.vocabulary = Self.vocabulary(echoing: request.echoedPrompt, echoPrompt: echoPrompt)
    }

    init(completion request: CompletionRequest, stamp: ResponseStamp, echoPrompt: Bool = false) {
        self.endpoint = .completion
        self.id = stamp.id
        self.created = stamp.created
        self.model = request.model
        self.promptTokens = SimulatedText.promptTokens(inputs: request.prompts)
        self.completionTokens = SimulatedText.completionTokenCount(requested: request.maxTokens)
        self.finishReason = request.maxTokens == nil ? .stop : .length
        self.stream = request.stream
        self.includeUsage = request.includeUsage
        self.continuousUsage = request.includeUsage && request.continuousUsageStats
        self.priority = request.priority
        self.vocabulary = Self.vocabulary(echoing: request.echoedPrompt, echoPrompt: echoPrompt)
    }

    var usage: Usage { Usage(promptTokens: promptTokens, completionTokens: completionTokens) }

    /// The non-streamed JSON body.
    func response() -> ByteBuffer {
        let text = SimulatedText.text(count: completionTokens, vocabulary: vocabulary)
        switch endpoint {
        case .chat:
            let choice = ChatCompletion.Choice(message: .init(content: text), finishReason: finishReason)
            return WireJSON.encode(
                ChatCompletion(id: id, created: created, model: model, choices: [choice], usage: usage)
            )
        case .completion:
            let choice = TextCompletion.Choice(text: text, finishReason: finishReason)
            return WireJSON.encode(
                TextCompletion(id: id, created: created, model: model, choices: [choice], usage: usage)
            )
        case .responses(let echo):
            return WireJSON.encode(completedResponse(echo))
        }
    }

    /// Every event of the streamed answer, in order.
    func streamEvents() -> [StreamEvent] {
        switch endpoint {
        case .chat:
            return chunkStream(
                opening: { chatChunk(delta: .init(role: "assistant", content: ""), usage: $0) },
                piece: { chatChunk(delta: .init(content: $0), usage: $1) },
                closing: { chatChunk(delta: .init(), finishReason: finishReason, usage: $0) },
                usageChunk: WireJSON.encode(
                    ChatCompletionChunk(id: id, created: created, model: model, choices: [], usage: usage)
                )
            )
        case .completion:
            return chunkStream(
                opening: nil,
                piece: { textChunk(text: $0, usage: $1) },
                closing: { textChunk(text: "", finishReason: finishReason, usage: $0) },
                usageChunk: WireJSON.encode(
                    TextCompletion(id: id, created: created, model: model, choices: [], usage: usage)
                )
            )
        case .responses(let echo):
            return responseStreamEvents(echo)
        }
    }

    /// A chat or legacy completion stream: the opening chunk if any (chat's role chunk), one chunk
    /// per token, a closing chunk with the finish reason, the usage chunk when asked for, and `[DONE]`.
    ///
    /// Each builder gets the usage to put in its chunk: nil, or with continuous usage the counts
    /// after that chunk (none generated yet in the role chunk, all in the closing one), as vLLM's
    /// `serving_chat.py` and `serving_completion.py` fill them.
    private func chunkStream(
        opening: ((Usage?) -> ByteBuffer)?, piece: (String, Usage?) -> ByteBuffer, closing: (Usage?) -> ByteBuffer,
        usageChunk: @autoclosure () -> ByteBuffer
    ) -> [StreamEvent] {
        func usageSoFar(_ generated: Int) -> Usage? {
            continuousUsage ? Usage(promptTokens: promptTokens, completionTokens: generated) : nil
        }
        var events: [StreamEvent] = []
        events.reserveCapacity(completionTokens + 4)
        if let opening { events.append(.init(bytes: opening(usageSoFar(0)))) }
        for (index, text) in SimulatedText.streamPieces(count: completionTokens, vocabulary: vocabulary).enumerated() {
            events.append(.init(tokenIndex: index, bytes: piece(text, usageSoFar(index + 1))))
        }
        events.append(.init(bytes: closing(usageSoFar(completionTokens))))
        if includeUsage {
            // As OpenAI does: an extra chunk with no choices carries the usage of the whole stream.
            events.append(.init(bytes: ServerSentEvents.event(usageChunk())))
        }
        events.append(.init(bytes: ServerSentEvents.done))
        return events
    }

    private func chatChunk(
        delta: ChatCompletionChunk.Choice.Delta, finishReason: FinishReason? = nil, usage: Usage?
    ) -> ByteBuffer {
        let choice = ChatCompletionChunk.Choice(delta: delta, finishReason: finishReason)
        let chunk = ChatCompletionChunk(id: id, created: created, model: model, choices: [choice], usage: usage)
        return ServerSentEvents.event(WireJSON.encode(chunk))
    }

    private func textChunk(text: String, finishReason: FinishReason? = nil, usage: Usage?) -> ByteBuffer {
        let choice = TextCompletion.Choice(text: text, finishReason: finishReason)
        let chunk = TextCompletion(id: id, created: created, model: model, choices: [choice], usage: usage)
        return ServerSentEvents.event(WireJSON.encode(chunk))
    }
}

extension Generation.StreamEvent {
    init(bytes: ByteBuffer) {
        self.init(tokenIndex: nil, bytes: bytes)
    }
}
