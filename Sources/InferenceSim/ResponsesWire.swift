// The Responses API's answer (`object: "response"`) and the pieces a stream of it is made of.
// Fields the simulator never varies (tools, reasoning, annotations, ...) are not stored: they are
// written as the constants OpenAI and vLLM send for a plain text answer, and skipped when decoding.

/// Where a response or its output message stands.
public enum ResponseStatus: String, Sendable, Equatable, Codable {
    /// Being generated: the state a stream announces first.
    case inProgress = "in_progress"
    /// Generated in full.
    case completed
}

/// An `output_text` content part of an output message.
public struct ResponseOutputText: Sendable, Equatable, Codable {
    /// The generated text, or in a stream's opening part the empty string.
    public var text: String

    /// Creates a part.
    public init(text: String) {
        self.text = text
    }

    enum CodingKeys: String, CodingKey { case type, text, annotations }

    /// Decodes a part; `type` and `annotations` are ignored.
    public init(from decoder: any Decoder) throws {
        text = try decoder.container(keyedBy: CodingKeys.self).decode(String.self, forKey: .text)
    }

    /// Encodes the part with its type and no annotations.
    public func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: CodingKeys.self)
        try container.encode("output_text", forKey: .type)
        try container.encode(text, forKey: .text)
        try container.encode([String](), forKey: .annotations)
    }
}

/// An output item of type `message`: the assistant's answer.
public struct ResponseOutputMessage: Sendable, Equatable, Codable {
    /// `msg_` and random hex; the same in every event of one stream.
    public var id: String
    /// `in_progress` while streamed, then `completed`.
    public var status: ResponseStatus
    /// The text parts; the simulator writes one, or none in a stream's opening item.
    public var content: [ResponseOutputText]

    /// Creates a message.
    public init(id: String, status: ResponseStatus, content: [ResponseOutputText]) {
        self.id = id
        self.status = status
        self.content = content
    }

    enum CodingKeys: String, CodingKey { case type, id, status, role, content }

    /// Decodes a message; `type` and `role` are ignored.
    public init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
        id = try container.decode(String.self, forKey: .id)
        status = try container.decode(ResponseStatus.self, forKey: .status)
        content = try container.decode([ResponseOutputText].self, forKey: .content)
    }

    /// Encodes an assistant message.
    public func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: CodingKeys.self)
        try container.encode("message", forKey: .type)
        try container.encode(id, forKey: .id)
        try container.encode(status, forKey: .status)
        try container.encode("assistant", forKey: .role)
        try container.encode(content, forKey: .content)
    }
}

/// Token counts in the Responses API's names, with the detail objects its clients require.
public struct ResponseUsage: Sendable, Equatable, Codable {
    /// Tokens in the instructions and input.
    public var inputTokens: Int
    /// Tokens generated.
    public var outputTokens: Int
    /// Their sum.
    public var totalTokens: Int

    /// The same counts as a chat completion's `usage`.
    public init(_ usage: Usage) {
        self.inputTokens = usage.promptTokens
        self.outputTokens = usage.completionTokens
        self.totalTokens = usage.totalTokens
    }

    enum CodingKeys: String, CodingKey {
        case inputTokens = "input_tokens"
        case outputTokens = "output_tokens"
        case totalTokens = "total_tokens"
        case inputTokensDetails = "input_tokens_details"
        case outputTokensDetails = "output_tokens_details"
    }

    /// Decodes usage; the details are ignored.
    public init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
        inputTokens = try container.decode(Int.self, forKey: .inputTokens)
        outputTokens = try container.decode(Int.self, forKey: .outputTokens)
        totalTokens = try container.decode(Int.self, forKey: .totalTokens)
    }

    /// Encodes usage with zero cached and reasoning tokens: the simulator has no prefix cache and
    /// does not reason. `cache_write_tokens` is not sent by vLLM, but OpenAI's current SDK models
    /// require it.
    public func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: CodingKeys.self)
        try container.encode(inputTokens, forKey: .inputTokens)
        try container.encode(outputTokens, forKey: .outputTokens)
        try container.encode(totalTokens, forKey: .totalTokens)
        try container.encode(["cached_tokens": 0, "cache_write_tokens": 0], forKey: .inputTokensDetails)
        try container.encode(["reasoning_tokens": 0], forKey: .outputTokensDetails)
    }
}

/// A `POST /v1/responses` answer (`object: "response"`), whole or as a stream's lifecycle events
/// carry it.
public struct ResponseObject: Sendable, Equatable, Codable {
    /// `resp_` and random hex; the same in every event of one stream.
    public var id: String
    /// Unix seconds.
    public var createdAt: Int
    /// `in_progress` in a stream's opening events, `completed` at the end.
    public var status: ResponseStatus
    /// The model that was asked for.
    public var model: String
    /// The output items: the assistant message once it is complete, none before.
    public var output: [ResponseOutputMessage]
    /// Token counts; null until the response is complete.
    public var usage: ResponseUsage?
    /// The request's `instructions`, echoed.
    public var instructions: String?
    /// The request's `max_output_tokens`, echoed.
    public var maxOutputTokens: Int?
    /// The request's `temperature`, echoed.
    public var temperature: Double?
    /// The request's `top_p`, echoed.
    public var topP: Double?

    /// Creates a response.
    public init(
        id: String, createdAt: Int, status: ResponseStatus, model: String, output: [ResponseOutputMessage],
        usage: ResponseUsage?, instructions: String? = nil, maxOutputTokens: Int? = nil, temperature: Double? = nil,
        topP: Double? = nil
    ) {
        self.id = id
        self.createdAt = createdAt
        self.status = status
        self.model = model
        self.output = output
        self.usage = usage
        self.instructions = instructions
        self.maxOutputTokens = maxOutputTokens
        self.temperature = temperature
        self.topP = topP
    }

    enum CodingKeys: String, CodingKey {
        case id, object, status, model, output, usage, instructions, temperature, error, metadata, reasoning
        case tools, text, truncation, background
        case createdAt = "created_at"
        case maxOutputTokens = "max_output_tokens"
        case topP = "top_p"
        case incompleteDetails = "incomplete_details"
        case parallelToolCalls = "parallel_tool_calls"
        case previousResponseID = "previous_response_id"
        case serviceTier = "service_tier"
        case toolChoice = "tool_choice"
    }

    /// Decodes the fields the simulator varies; the constant ones are ignored.
    public init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
        self.init(
            id: try container.decode(String.self, forKey: .id),
            createdAt: try container.decode(Int.self, forKey: .createdAt),
            status: try container.decode(ResponseStatus.self, forKey: .status),
            model: try container.decode(String.self, forKey: .model),
            output: try container.decode([ResponseOutputMessage].self, forKey: .output),
            usage: try container.decodeIfPresent(ResponseUsage.self, forKey: .usage),
            instructions: try container.decodeIfPresent(String.self, forKey: .instructions),
            maxOutputTokens: try container.decodeIfPresent(Int.self, forKey: .maxOutputTokens),
            temperature: try container.decodeIfPresent(Double.self, forKey: .temperature),
            topP: try container.decodeIfPresent(Double.self, forKey: .topP)
        )
    }

    /// Encodes every field OpenAI's SDKs read, with explicit nulls where OpenAI sends them.
    public func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: CodingKeys.self)
        try container.encode(id, forKey: .id)
        try container.encode("response", forKey: .object)
        try container.encode(createdAt, forKey: .createdAt)
        try container.encode(status, forKey: .status)
        try container.encode(model, forKey: .model)
        try container.encode(output, forKey: .output)
        try container.encode(usage, forKey: .usage)
        try container.encode(instructions, forKey: .instructions)
        try container.encode(maxOutputTokens, forKey: .maxOutputTokens)
        try container.encode(temperature, forKey: .temperature)
        try container.encode(topP, forKey: .topP)
        // A completed answer has neither an error nor incomplete details; the simulator never fails
        // a generation it has started.
        try container.encodeNil(forKey: .error)
        try container.encodeNil(forKey: .incompleteDetails)
        try container.encodeNil(forKey: .metadata)
        try container.encodeNil(forKey: .previousResponseID)
        try container.encodeNil(forKey: .reasoning)
        try container.encode(false, forKey: .background)
        try container.encode(true, forKey: .parallelToolCalls)
        try container.encode("auto", forKey: .toolChoice)
        try container.encode([String](), forKey: .tools)
        try container.encode(["format": ["type": "text"]], forKey: .text)
        try container.encode("disabled", forKey: .truncation)
        try container.encode("auto", forKey: .serviceTier)
    }
}

/// One server-sent event of a streamed response. Which fields are set depends on `type`: the
/// lifecycle events carry `response`, the item events `item`, the content-part events `part`, and
/// the text events `delta` or `text`; absent fields are left out of the JSON.
public struct ResponseStreamEvent: Sendable, Equatable, Codable {
    /// The event types the simulator sends, in the order a stream sends them.
    public enum Kind: String, Sendable, Equatable, Codable {
        case created = "response.created"
        case inProgress = "response.in_progress"
        case outputItemAdded = "response.output_item.added"
        case contentPartAdded = "response.content_part.added"
        case outputTextDelta = "response.output_text.delta"
        case outputTextDone = "response.output_text.done"
        case contentPartDone = "response.content_part.done"
        case outputItemDone = "response.output_item.done"
        case completed = "response.completed"
    }

    /// What the event reports; also the SSE `event:` name.
    public var type: Kind
    /// The event's position in its stream, from 0.
    public var sequenceNumber: Int
    /// The whole response, for `response.created`, `.in_progress` and `.completed`.
    public var response: ResponseObject?
    /// The output item, for `response.output_item.*`.
    public var item: ResponseOutputMessage?
    /// The output item's id, for the content-part and text events.
    public var itemID: String?
    /// The output item's position, for every event below the response.
    public var outputIndex: Int?
    /// The content part's position, for the content-part and text events.
    public var contentIndex: Int?
    /// The content part, for `response.content_part.*`.
    public var part: ResponseOutputText?
    /// The next token's text, for `response.output_text.delta`.
    public var delta: String?
    /// The whole text, for `response.output_text.done`.
    public var text: String?

    /// Creates an event.
    public init(
        type: Kind, sequenceNumber: Int, response: ResponseObject? = nil, item: ResponseOutputMessage? = nil,
        itemID: String? = nil, outputIndex: Int? = nil, contentIndex: Int? = nil, part: ResponseOutputText? = nil,
        delta: String? = nil, text: String? = nil
    ) {
        self.type = type
        self.sequenceNumber = sequenceNumber
        self.response = response
        self.item = item
        self.itemID = itemID
        self.outputIndex = outputIndex
        self.contentIndex = contentIndex
        self.part = part
        self.delta = delta
        self.text = text
    }

    enum CodingKeys: String, CodingKey {
        case type, response, item, part, delta, text
        case sequenceNumber = "sequence_number"
        case itemID = "item_id"
        case outputIndex = "output_index"
        case contentIndex = "content_index"
    }

    private enum TextEventKeys: String, CodingKey { case logprobs }

    /// Encodes the fields the event's type carries; text events also get the `logprobs` list their
    /// clients require, empty because none were asked for.
    public func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: CodingKeys.self)
        try container.encode(type, forKey: .type)
        try container.encode(sequenceNumber, forKey: .sequenceNumber)
        try container.encodeIfPresent(response, forKey: .response)
        try container.encodeIfPresent(item, forKey: .item)
        try container.encodeIfPresent(itemID, forKey: .itemID)
        try container.encodeIfPresent(outputIndex, forKey: .outputIndex)
        try container.encodeIfPresent(contentIndex, forKey: .contentIndex)
        try container.encodeIfPresent(part, forKey: .part)
        try container.encodeIfPresent(delta, forKey: .delta)
        try container.encodeIfPresent(text, forKey: .text)
        if type == .outputTextDelta || type == .outputTextDone {
            var textEvent = encoder.container(keyedBy: TextEventKeys.self)
            try textEvent.encode([String](), forKey: .logprobs)
        }
    }
}
