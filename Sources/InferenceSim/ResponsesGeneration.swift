// A Responses API answer: the same text, counts and pacing as a chat completion of the same
// conversation, in the Responses API's shapes.

extension Generation {
    /// What a response echoes from its request, beyond what every generation carries.
    struct ResponsesEcho: Sendable {
        /// The output message's id (`msg_...`), fixed so every event of a stream names the same item.
        let messageID: String
        let instructions: String?
        let maxOutputTokens: Int?
        let temperature: Double?
        let topP: Double?
    }

    init(responses request: ResponsesRequest, stamp: ResponseStamp, messageID: String, echoPrompt: Bool = false) {
        self.endpoint = .responses(
            ResponsesEcho(
                messageID: messageID, instructions: request.instructions, maxOutputTokens: request.maxOutputTokens,
                temperature: request.temperature, topP: request.topP
            )
        )
        self.id = stamp.id
        self.created = stamp.created
        self.model = request.model
        self.promptTokens = SimulatedText.promptTokens(messages: request.promptMessages)
        self.completionTokens = SimulatedText.completionTokenCount(requested: request.maxOutputTokens)
        self.finishReason = request.maxOutputTokens == nil ? .stop : .length
        self.stream = request.stream
        // The closing `response.completed` event always carries the usage; there is no option for it.
        self.includeUsage = false
        self.continuousUsage = false
        self.priority = request.priority
        // llama.cpp's Responses API answers carry no timings; what it adds there is not imitated.
        self.llamaCpp = nil
        self.vocabulary = Self.vocabulary(echoing: request.echoedPrompt, echoPrompt: echoPrompt)
    }

    /// The whole answer: the non-streamed body, and the response `response.completed` carries.
    func completedResponse(_ echo: ResponsesEcho) -> ResponseObject {
        let message = ResponseOutputMessage(
            id: echo.messageID, status: .completed,
            content: [ResponseOutputText(text: SimulatedText.text(count: completionTokens, vocabulary: vocabulary))]
        )
        return response(echo, status: .completed, output: [message], usage: ResponseUsage(usage))
    }

    /// The streamed answer as OpenAI sends it: the response created and in progress, the message
    /// and its text part opened, one text delta per token, then text, part, message and response
    /// each closed with their final content. No `[DONE]`: `response.completed` ends the stream.
    func responseStreamEvents(_ echo: ResponsesEcho) -> [StreamEvent] {
        let started = response(echo, status: .inProgress, output: [], usage: nil)
        let text = SimulatedText.text(count: completionTokens, vocabulary: vocabulary)
        let openMessage = ResponseOutputMessage(id: echo.messageID, status: .inProgress, content: [])
        let completed = completedResponse(echo)

        // Sequence numbers are filled in once the order is known.
        var events: [(tokenIndex: Int?, event: ResponseStreamEvent)] = []
        events.reserveCapacity(completionTokens + 8)
        func append(
            _ type: ResponseStreamEvent.Kind, tokenIndex: Int? = nil, _ fill: (inout ResponseStreamEvent) -> Void
        ) {
            var event = ResponseStreamEvent(type: type, sequenceNumber: 0)
            fill(&event)
            events.append((tokenIndex, event))
        }
        func inPart(_ event: inout ResponseStreamEvent) {
            event.itemID = echo.messageID
            event.outputIndex = 0
            event.contentIndex = 0
        }

        append(.created) { $0.response = started }
        append(.inProgress) { $0.response = started }
        append(.outputItemAdded) {
            $0.outputIndex = 0
            $0.item = openMessage
        }
        append(.contentPartAdded) {
            inPart(&$0)
            $0.part = ResponseOutputText(text: "")
        }
        for (index, piece) in SimulatedText.streamPieces(count: completionTokens, vocabulary: vocabulary).enumerated() {
            append(.outputTextDelta, tokenIndex: index) {
                inPart(&$0)
                $0.delta = piece
            }
        }
        append(.outputTextDone) {
            inPart(&$0)
            $0.text = text
        }
        append(.contentPartDone) {
            inPart(&$0)
            $0.part = ResponseOutputText(text: text)
        }
        append(.outputItemDone) {
            $0.outputIndex = 0
            $0.item = completed.output[0]
        }
        append(.completed) { $0.response = completed }

        return events.enumerated().map { sequenceNumber, planned in
            var event = planned.event
            event.sequenceNumber = sequenceNumber
            return StreamEvent(
                tokenIndex: planned.tokenIndex,
                bytes: ServerSentEvents.event(WireJSON.encode(event), name: event.type.rawValue)
            )
        }
    }

    private func response(
        _ echo: ResponsesEcho, status: ResponseStatus, output: [ResponseOutputMessage], usage: ResponseUsage?
    ) -> ResponseObject {
        ResponseObject(
            id: id, createdAt: created, status: status, model: model, output: output, usage: usage,
            instructions: echo.instructions, maxOutputTokens: echo.maxOutputTokens, temperature: echo.temperature,
            topP: echo.topP
        )
    }
}
