import NIOCore
import NIOHTTP1

extension SimulatorError {
    /// llama-server's answer to every request, probes included, until its model is loaded.
    public static let loadingModel = SimulatorError(
        status: .serviceUnavailable, message: "Loading model", type: "unavailable_error"
    )

    /// llama-server's answer to a path it does not serve, and to a path it serves asked with
    /// another method: it has no 405.
    public static let fileNotFound = SimulatorError(
        status: .notFound, message: "File Not Found", type: "not_found_error"
    )

    /// The JSON body in the imitated engine's shape: OpenAI's for vLLM (see ``body``), and for
    /// llama.cpp `{"error":{"code":<status>,"message","type"}}`, its numeric status as the code
    /// and no `param`.
    public func body(for engine: InferenceEngine) -> ByteBuffer {
        switch engine {
        case .vllm: body
        case .llamacpp:
            WireJSON.encode(LlamaCppEnvelope(error: .init(code: Int(status.code), message: message, type: type)))
        }
    }

    private struct LlamaCppEnvelope: Encodable {
        struct Inner: Encodable {
            let code: Int
            let message: String
            let type: String
        }

        let error: Inner
    }
}
