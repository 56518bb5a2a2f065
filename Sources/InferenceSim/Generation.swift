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
    /// What a llama.cpp answer adds; nil when imitating vLLM.
    let llamaCpp: LlamaCppAnswers?
    /// The words the completion cycles through: ``SimulatedText/words``, or with `--echo-prompt`
    /// the words of the prompt.
    let vocabulary: [String]

    /// The vocabulary for a request whose newest prompt text is `prompt`.
    static func vocabulary(echoing prompt: @autoclosure () -> String, echoPrompt: Bool) -> [String] {
        echoPrompt ? SimulatedText.echoVocabulary(prompt()) : SimulatedText.words
    }

    init(
        chat request: ChatCompletionRequest, stamp: ResponseStamp, echoPrompt: Bool = false,
        llamaCpp: LlamaCppAnswers? = nil
    ) {
        self.endpoint = .chat
        self.id = stamp.id
        self.created = stamp.created
        self.model = request.model
        self.promptTokens = SimulatedText.promptTokens(messages: request.messages)
        self.completionTokens = SimulatedText.completionTokenCount(requested: request.maxTokens)
        self.finishReason = request.maxTokens == nil ? .stop : .length
        self.stream = request.stream
        self.includeUsage = request.includeUsage
        // llama.cpp has no continuous usage: it reports progress through its timings instead.
        self.continuousUsage = llamaCpp == nil && request.includeUsage && request.continuousUsageStats
        self.priority = request.priority
        self.llamaCpp = llamaCpp?.with(timingsPerToken: request.timingsPerToken)
        self.vocabulary = Self.vocabulary(echoing: request.echoedPrompt, echoPrompt: echoPrompt)
    }

    init(
        completion request: CompletionRequest, stamp: ResponseStamp, echoPrompt: Bool = false,
        llamaCpp: LlamaCppAnswers? = nil
    ) {
        self.endpoint = .completion
        self.id = stamp.id
        self.created = stamp.created
        self.model = request.model
        self.promptTokens = SimulatedText.promptTokens(inputs: request.prompts)
        self.completionTokens = SimulatedText.completionTokenCount(requested: request.maxTokens)
        self.finishReason = request.maxTokens == nil ? .stop : .length
        self.stream = request.stream
        self.includeUsage = request.includeUsage
        // llama.cpp has no continuous usage: it reports progress through its timings instead.
        self.continuousUsage = llamaCpp == nil && request.includeUsage && request.continuousUsageStats
        self.priority = request.priority
        self.llamaCpp = llamaCpp?.with(timingsPerToken: request.timingsPerToken)
        self.vocabulary = Self.vocabulary(echoing: request.echoedPrompt, echoPrompt: echoPrompt)
    }

    /// The usage of the whole answer; llama.cpp adds how much of the prompt came from its cache.
    var usage: Usage {
        Usage(
            promptTokens: promptTokens, completionTokens: completionTokens,
            promptTokensDetails: llamaCpp.map { _ in .init(cachedTokens: 0) }
        )
    }

    /// llama.cpp's timings after `predicted` tokens; nil when imitating vLLM.
    func timings(predicted: Int) -> LlamaCppTimings? {
        llamaCpp.map {
            LlamaCppTimings(promptTokens: promptTokens, predicted: predicted, tokensPerSecond: $0.tokensPerSecond)
        }
    }

    /// llama.cpp's fingerprint; nil when imitating vLLM.
    private var systemFingerprint: String? { llamaCpp.map { _ in LlamaCppAnswers.systemFingerprint } }

    /// The non-streamed JSON body.
    func response() -> ByteBuffer {
        let text = SimulatedText.text(count: completionTokens, vocabulary: vocabulary)
        switch endpoint {
        case .chat:
            let choice = ChatCompletion.Choice(message: .init(content: text), finishReason: finishReason)
            return WireJSON.encode(
                ChatCompletion(
                    id: id, created: created, model: model, choices: [choice], usage: usage,
                    systemFingerprint: systemFingerprint, timings: timings(predicted: completionTokens)
                )
            )
        case .completion:
            let choice = TextCompletion.Choice(text: text, finishReason: finishReason)
            return WireJSON.encode(
                TextCompletion(
                    id: id, created: created, model: model, choices: [choice], usage: usage,
                    systemFingerprint: systemFingerprint, timings: timings(predicted: completionTokens)
                )
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
                // vLLM opens with an empty text, llama.cpp with a null one.
                opening: { chatChunk(delta: .init(role: "assistant", content: openingText), progress: $0) },
                piece: { chatChunk(delta: .init(content: $0), progress: $1) },
                closing: { chatChunk(delta: .init(), finishReason: finishReason, progress: $0) },
                usageChunk: WireJSON.encode(
                    ChatCompletionChunk(
                        id: id, created: created, model: model, choices: [], usage: usage,
                        systemFingerprint: systemFingerprint, timings: timings(predicted: completionTokens)
                    )
                )
            )
        case .completion:
            return chunkStream(
                opening: nil,
                piece: { textChunk(text: $0, progress: $1) },
                closing: { textChunk(text: "", finishReason: finishReason, progress: $0) },
                usageChunk: WireJSON.encode(
                    TextCompletion(id: id, created: created, model: model, choices: [], usage: usage)
                )
            )
        case .responses(let echo):
            return responseStreamEvents(echo)
        }
    }

    private var openingText: String? { llamaCpp == nil ? "" : nil }

    /// The place of a chunk in a chat or legacy completion stream.
    private enum ChunkPlace { case opening, content, closing }

    /// What one chunk of a chat or legacy completion stream reports beside its text.
    struct ChunkProgress {
        var usage: Usage?
        var timings: LlamaCppTimings?
    }

    /// A chat or legacy completion stream: the opening chunk if any (chat's role chunk), one chunk
    /// per token, a closing chunk with the finish reason, the usage chunk when asked for, and `[DONE]`.
    ///
    /// Each builder gets what its chunk reports beside the text: with vLLM's continuous usage the
    /// counts after that chunk (none generated yet in the role chunk, all in the closing one), as
    /// vLLM's `serving_chat.py` and `serving_completion.py` fill them; see ``progress(_:generated:)``
    /// for llama.cpp's.
    private func chunkStream(
        opening: ((ChunkProgress) -> ByteBuffer)?, piece: (String, ChunkProgress) -> ByteBuffer,
        closing: (ChunkProgress) -> ByteBuffer, usageChunk: @autoclosure () -> ByteBuffer
    ) -> [StreamEvent] {
        var events: [StreamEvent] = []
        events.reserveCapacity(completionTokens + 4)
        if let opening { events.append(.init(bytes: opening(progress(.opening, generated: 0)))) }
        for (index, text) in SimulatedText.streamPieces(count: completionTokens, vocabulary: vocabulary).enumerated() {
            events.append(.init(tokenIndex: index, bytes: piece(text, progress(.content, generated: index + 1))))
        }
        events.append(.init(bytes: closing(progress(.closing, generated: completionTokens))))
        if includeUsage && !llamaCppEndsWithFinishChunk {
            // As OpenAI does: an extra chunk with no choices carries the usage of the whole stream.
            events.append(.init(bytes: ServerSentEvents.event(usageChunk())))
        }
        events.append(.init(bytes: ServerSentEvents.done))
        return events
    }

    /// llama.cpp's legacy completion streams put the usage on the finish chunk, asked for or not,
    /// and send no usage chunk.
    private var llamaCppEndsWithFinishChunk: Bool {
        if llamaCpp != nil, case .completion = endpoint { return true }
        return false
    }

    /// What the chunk at `place`, after `generated` tokens, reports: vLLM's continuous usage; or
    /// llama.cpp's timings, never on the role chunk, on content chunks only with `timings_per_token`,
    /// and on the closing chunk unless a usage chunk follows to carry them (then the closing chunk
    /// has none), as llama-server sends them.
    private func progress(_ place: ChunkPlace, generated: Int) -> ChunkProgress {
        guard let llamaCpp else {
            return ChunkProgress(
                usage: continuousUsage ? Usage(promptTokens: promptTokens, completionTokens: generated) : nil
            )
        }
        let carriesTimings: Bool
        switch place {
        case .opening:
            carriesTimings = false
        case .content:
            carriesTimings = llamaCpp.timingsPerToken
        case .closing:
            if llamaCppEndsWithFinishChunk {
                return ChunkProgress(usage: usage, timings: timings(predicted: generated))
            }
            carriesTimings = !includeUsage
        }
        return ChunkProgress(timings: carriesTimings ? timings(predicted: generated) : nil)
    }

    private func chatChunk(
        delta: ChatCompletionChunk.Choice.Delta, finishReason: FinishReason? = nil, progress: ChunkProgress
    ) -> ByteBuffer {
        let choice = ChatCompletionChunk.Choice(delta: delta, finishReason: finishReason)
        let chunk = ChatCompletionChunk(
            id: id, created: created, model: model, choices: [choice], usage: progress.usage,
            systemFingerprint: systemFingerprint, timings: progress.timings
        )
        return ServerSentEvents.event(WireJSON.encode(chunk))
    }

    private func textChunk(text: String, finishReason: FinishReason? = nil, progress: ChunkProgress) -> ByteBuffer {
        let choice = TextCompletion.Choice(text: text, finishReason: finishReason)
        let chunk = TextCompletion(
            id: id, created: created, model: model, choices: [choice], usage: progress.usage,
            systemFingerprint: systemFingerprint, timings: progress.timings
        )
        return ServerSentEvents.event(WireJSON.encode(chunk))
    }
}

extension Generation.StreamEvent {
    init(bytes: ByteBuffer) {
        self.init(tokenIndex: nil, bytes: bytes)
    }
}
