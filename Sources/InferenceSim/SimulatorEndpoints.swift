import NIOCore
import NIOHTTP1

#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif

/// What the simulator answers to one routed request, before any simulated timing.
enum Reply: Sendable {
    /// A complete answer that is not inference work (probes, listings, errors).
    case immediate(status: HTTPResponseStatus, contentType: String?, body: ByteBuffer)
    /// A refused request; `model` is set when the body named one.
    case failure(SimulatorError, model: String?)
    /// A chat completion, legacy completion or response, answered after its simulated generation
    /// time or streamed.
    case generation(Generation)
    /// Embeddings: complete at once, but inference work all the same.
    case embeddings(body: ByteBuffer, model: String, promptTokens: Int, priority: Int?)
}

/// Turns routed requests into replies; knows the API, not HTTP framing or timing.
struct SimulatorEndpoints: Sendable {
    let options: SimulatorOptions
    let metrics: SimulatorMetrics

    func reply(to route: SimulatorRoute, body: ByteBuffer) async -> Reply {
        switch route {
        case .health:
            switch options.engine {
            case .vllm:
                return .immediate(status: .ok, contentType: nil, body: ByteBuffer())
            case .llamacpp:
                return .immediate(
                    status: .ok, contentType: "application/json", body: ByteBuffer(string: #"{"status":"ok"}"#))
            }
        case .models:
            let listing = switch options.engine {
            case .vllm: WireJSON.encode(ModelList(models: options.models))
            case .llamacpp: WireJSON.encode(LlamaCppModelList(models: options.models))
            }
            return .immediate(status: .ok, contentType: "application/json", body: listing)
        case .props:
            return .immediate(
                status: .ok, contentType: "application/json", body: WireJSON.encode(LlamaCppProps(options: options)))
        case .metrics:
            let exposition = MetricsExposition.render(await metrics.snapshot, options: options)
            return .immediate(
                status: .ok, contentType: MetricsExposition.contentType, body: ByteBuffer(string: exposition))
        case .chatCompletions:
            return decodeThen(ChatCompletionRequest.self, from: body, model: \.model) { request in
                let stamp = ResponseStamp.make(prefix: "chatcmpl-")
                return .generation(
                    Generation(chat: request, stamp: stamp, echoPrompt: options.echoPrompt, llamaCpp: llamaCppAnswers)
                )
            }
        case .completions:
            return decodeThen(CompletionRequest.self, from: body, model: \.model) { request in
                let stamp = ResponseStamp.make(prefix: "cmpl-")
                return .generation(
                    Generation(
                        completion: request, stamp: stamp, echoPrompt: options.echoPrompt, llamaCpp: llamaCppAnswers
                    )
                )
            }
        case .embeddings:
            return decodeThen(EmbeddingRequest.self, from: body, model: \.model, embeddings)
        case .responses:
            return decodeThen(ResponsesRequest.self, from: body, model: \.model) { request in
                let messageID = ResponseStamp.make(prefix: "msg_").id
                return .generation(
                    Generation(
                        responses: request, stamp: .make(prefix: "resp_"), messageID: messageID,
                        echoPrompt: options.echoPrompt
                    )
                )
            }
        }
    }

    /// Decodes the body and checks its model before `answer` sees it, so every endpoint refuses
    /// bad bodies (400) and unserved models (404) alike.
    private func decodeThen<Request: Decodable>(
        _ type: Request.Type, from body: ByteBuffer, model: KeyPath<Request, String>, _ answer: (Request) -> Reply
    ) -> Reply {
        let request: Request
        do {
            request = try WireJSON.decode(type, from: body)
        } catch {
            return .failure(error, model: nil)
        }
        let name = request[keyPath: model]
        guard options.models.contains(name) else {
            return .failure(.modelNotFound(name, served: options.models), model: name)
        }
        // vLLM (0.32) accepts a priority under its default fcfs policy too, and schedules by it only with
        // `--scheduling-policy priority`; llama.cpp ignores it, as every field it does not know. vLLM refuses an
        // empty cache salt.
        if options.engine == .vllm, body.readableBytesView.containsCacheSalt, Self.hasEmptyCacheSalt(body) {
            return .failure(.emptyCacheSalt, model: name)
        }
        return answer(request)
    }

    /// What generations add in llama.cpp mode; nil for vLLM.
    private var llamaCppAnswers: LlamaCppAnswers? {
        options.engine == .llamacpp ? LlamaCppAnswers(tokensPerSecond: options.tokensPerSecond) : nil
    }

    private func embeddings(_ request: EmbeddingRequest) -> Reply {
        let data = request.inputs.enumerated().map { index, input in
            let vector = SimulatedEmbedding.vector(for: input)
            switch request.encodingFormat {
            case .float:
                return EmbeddingList.Embedding(index: index, embedding: .floats(vector))
            case .base64:
                let encoded = Data(SimulatedEmbedding.littleEndianBytes(vector)).base64EncodedString()
                return EmbeddingList.Embedding(index: index, embedding: .base64(encoded))
            }
        }
        let promptTokens = SimulatedText.promptTokens(inputs: request.inputs)
        let response = EmbeddingList(data: data, model: request.model, usage: .init(promptTokens: promptTokens))
        return .embeddings(
            body: WireJSON.encode(response), model: request.model, promptTokens: promptTokens,
            priority: request.priority
        )
    }
}

extension SimulatorEndpoints {
    /// Whether the body's `cache_salt` is an empty string.
    static func hasEmptyCacheSalt(_ body: ByteBuffer) -> Bool {
        struct Salted: Decodable {
            let salt: String?
            enum CodingKeys: String, CodingKey { case salt = "cache_salt" }
        }
        return (try? JSONDecoder().decode(Salted.self, from: Data(body.readableBytesView)))?.salt == ""
    }
}

extension ByteBufferView {
    /// A cheap test before the body is decoded a second time: most requests carry no salt.
    fileprivate var containsCacheSalt: Bool {
        let key = Array("\"cache_salt\"".utf8)
        return count >= key.count && indices.dropLast(key.count - 1).contains { self[$0..<($0 + key.count)].elementsEqual(key) }
    }
}
