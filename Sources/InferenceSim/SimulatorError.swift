import NIOCore
import NIOHTTP1

/// A request the simulator refuses, answered in OpenAI's error shape so SDKs raise their usual
/// exceptions: `{"error":{"message","type","param","code"}}`.
public struct SimulatorError: Error, Sendable, Equatable {
    /// The HTTP status.
    public var status: HTTPResponseStatus
    /// A sentence for the client saying what was wrong and how to fix it.
    public var message: String
    /// OpenAI's `type`.
    public var type: String
    /// The request field at fault, if any (`messages[0].role`).
    public var param: String?
    /// OpenAI's machine-readable `code`, if any.
    public var code: String?

    /// Creates an error.
    public init(
        status: HTTPResponseStatus, message: String, type: String = "invalid_request_error", param: String? = nil,
        code: String? = nil
    ) {
        self.status = status
        self.message = message
        self.type = type
        self.param = param
        self.code = code
    }

    /// The JSON body.
    public var body: ByteBuffer { WireJSON.encode(Envelope(error: self)) }

    private struct Envelope: Encodable {
        let error: SimulatorError

        enum Keys: String, CodingKey { case error }
        enum ErrorKeys: String, CodingKey { case message, type, param, code }

        func encode(to encoder: any Encoder) throws {
            var outer = encoder.container(keyedBy: Keys.self)
            var inner = outer.nestedContainer(keyedBy: ErrorKeys.self, forKey: .error)
            try inner.encode(error.message, forKey: .message)
            try inner.encode(error.type, forKey: .type)
            // Explicit nulls, as OpenAI sends them.
            try inner.encode(error.param, forKey: .param)
            try inner.encode(error.code, forKey: .code)
        }
    }
}

extension SimulatorError {
    /// The body is not JSON at all.
    public static let invalidJSON = SimulatorError(
        status: .badRequest,
        message: "We could not parse the JSON body of your request: it is not valid JSON. Send a JSON object."
    )

    /// No route serves `path`.
    public static func unknownPath(_ path: String) -> SimulatorError {
        SimulatorError(
            status: .notFound,
            message: "Unknown request URL: \(path). The simulator serves /health, /metrics, /v1/models, "
                + "/v1/chat/completions, /v1/completions, /v1/embeddings and /v1/responses.",
            code: "unknown_url"
        )
    }

    /// `path` exists but not for `method`.
    public static func methodNotAllowed(_ method: HTTPMethod, path: String, allowed: HTTPMethod) -> SimulatorError {
        SimulatorError(
            status: .methodNotAllowed,
            message: "\(method.rawValue) is not allowed on \(path); use \(allowed.rawValue).",
            code: "method_not_allowed"
        )
    }

    /// The request names a model this simulator does not serve.
    public static func modelNotFound(_ model: String, served: [String]) -> SimulatorError {
        SimulatorError(
            status: .notFound,
            message: "The model '\(model)' does not exist or is not served here "
                + "(served: \(served.joined(separator: ", "))).",
            param: "model", code: "model_not_found"
        )
    }

    /// An empty `cache_salt`, refused as vLLM refuses it.
    public static let emptyCacheSalt = SimulatorError(
        status: .badRequest, message: "Parameter 'cache_salt' must be a non-empty string if provided.",
        param: "cache_salt", code: nil
    )

    /// The body exceeds the configured limit.
    public static func bodyTooLarge(limit: Int) -> SimulatorError {
        SimulatorError(
            status: .payloadTooLarge, message: "The request body exceeds \(limit) bytes; send a smaller request.",
            code: "request_too_large"
        )
    }

    /// The body is JSON but not the request the endpoint expects.
    static func invalidRequest(_ error: DecodingError) -> SimulatorError {
        switch error {
        case .keyNotFound(let key, let context):
            let param = parameterPath(context.codingPath + [key])
            return SimulatorError(
                status: .badRequest, message: "Missing required parameter: '\(param)'.", param: param,
                code: "missing_required_parameter"
            )
        case .typeMismatch(_, let context) where context.codingPath.isEmpty:
            return SimulatorError(status: .badRequest, message: "The request body must be a JSON object.")
        case .typeMismatch(_, let context), .valueNotFound(_, let context):
            let param = parameterPath(context.codingPath)
            return SimulatorError(
                status: .badRequest, message: "Invalid type for '\(param)': \(context.debugDescription)", param: param,
                code: "invalid_type"
            )
        case .dataCorrupted(let context) where context.codingPath.isEmpty:
            return .invalidJSON
        case .dataCorrupted(let context):
            let param = parameterPath(context.codingPath)
            return SimulatorError(
                status: .badRequest, message: "Invalid value for '\(param)': \(context.debugDescription)", param: param,
                code: "invalid_value"
            )
        @unknown default:
            return .invalidJSON
        }
    }

    /// `messages[0].content`, the way OpenAI names a nested field.
    private static func parameterPath(_ path: [any CodingKey]) -> String {
        path.reduce(into: "") { result, key in
            if let index = key.intValue {
                result += "[\(index)]"
            } else {
                result += result.isEmpty ? key.stringValue : "." + key.stringValue
            }
        }
    }
}
