import Foundation
import NIOHTTP1
import Registry

/// An error answered in the shape the OpenAI API uses, so SDKs raise their usual exceptions.
public struct OpenAIError: Error, Sendable, Equatable {
    /// The HTTP status.
    public let status: HTTPResponseStatus
    /// A sentence for the client.
    public let message: String
    /// OpenAI's `type` field.
    public let type: String
    /// OpenAI's `code` field.
    public let code: String?
    /// The request field at fault, if any.
    public let param: String?

    /// Creates an error.
    public init(status: HTTPResponseStatus, message: String, type: String = "invalid_request_error", code: String?, param: String? = nil) {
        self.status = status
        self.message = message
        self.type = type
        self.code = code
        self.param = param
    }

    /// The JSON body.
    public var body: [UInt8] {
        struct Envelope: Encodable {
            struct Inner: Encodable {
                let message: String
                let type: String
                let param: String?
                let code: String?

                func encode(to encoder: any Encoder) throws {
                    var c = encoder.container(keyedBy: CodingKeys.self)
                    try c.encode(message, forKey: .message)
                    try c.encode(type, forKey: .type)
                    try c.encode(param, forKey: .param)  // explicit null, as OpenAI sends
                    try c.encode(code, forKey: .code)
                }

                enum CodingKeys: String, CodingKey { case message, type, param, code }
            }
            let error: Inner
        }
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        return Array((try? encoder.encode(Envelope(error: .init(message: message, type: type, param: param, code: code)))) ?? Data())
    }

    static func invalidAPIKey(_ message: String) -> OpenAIError {
        OpenAIError(status: .unauthorized, message: message, code: "invalid_api_key")
    }

    static func notFound(path: String) -> OpenAIError {
        OpenAIError(status: .notFound, message: "Unknown request URL: \(path).", code: "unknown_url")
    }

    static func methodNotAllowed(_ method: HTTPMethod, path: String) -> OpenAIError {
        OpenAIError(status: .methodNotAllowed, message: "\(method) is not allowed on \(path).", code: "method_not_allowed")
    }

    static func modelNotFound(_ model: String) -> OpenAIError {
        OpenAIError(status: .notFound, message: "The model '\(model)' does not exist or is not served here.", code: "model_not_found", param: "model")
    }

    static func invalidBody(_ message: String) -> OpenAIError {
        OpenAIError(status: .badRequest, message: message, code: "invalid_request_body")
    }

    static func bodyTooLarge(limit: Int) -> OpenAIError {
        OpenAIError(status: .payloadTooLarge, message: "The request body exceeds \(limit) bytes.", code: "request_too_large")
    }

    static func unknownTier(_ tier: String, header: String) -> OpenAIError {
        OpenAIError(
            status: .badRequest,
            message: "The tier '\(tier)' in \(header) does not exist; use slow, medium, fast or ludicrous.",
            code: "invalid_tier", param: header
        )
    }

    static func noBackend(model: String, tier: String) -> OpenAIError {
        OpenAIError(
            status: .serviceUnavailable,
            message: "No healthy backend serves '\(model)' in the \(tier) tier right now; retry shortly or use another tier.",
            type: "server_error", code: "no_backend_available"
        )
    }

    /// CONNECT asks for a tunnel; the PoP serves only its API.
    static let connectNotSupported = OpenAIError(
        status: .methodNotAllowed,
        message: "CONNECT is not supported: the PoP serves the OpenAI API, not a proxy. Send the API request itself.",
        code: "method_not_allowed"
    )

    static let receiptLogUnreadable = OpenAIError(
        status: .internalServerError, message: "The receipt log could not be read; retry shortly.", type: "server_error",
        code: "receipt_log_unreadable"
    )

    static let backendFailedMidStream = OpenAIError(
        status: .badGateway, message: "The inference backend failed while streaming; the response is incomplete.",
        type: "server_error", code: "backend_failed"
    )

    /// The error as a server-sent event, for a stream whose status line has already gone out.
    var event: [UInt8] {
        Array("data: ".utf8) + body + Array("\n\n".utf8)
    }

    static let receiptsUnavailable = OpenAIError(
        status: .serviceUnavailable,
        message: "The PoP cannot write receipts right now, and serves no request without one; retry shortly.",
        type: "server_error", code: "receipts_unavailable"
    )

    static func upstreamUnavailable(_ backend: String) -> OpenAIError {
        OpenAIError(
            status: .badGateway, message: "The inference backend did not answer; retry shortly.", type: "server_error",
            code: "backend_unavailable"
        )
    }
}

extension OpenAIError {
    /// 429 in OpenAI's words: which limit of which tier, and when to retry.
    static func rateLimited(_ refusal: RateLimitRefusal, tier: Tier) -> OpenAIError {
        let message =
            switch refusal.limit {
            case .requests:
                "Rate limit reached for requests per minute in the \(tier.rawValue) tier: limit \(refusal.allowance). Retry after \(refusal.retryAfterSeconds) s."
            case .tokens:
                "Rate limit reached for tokens per minute in the \(tier.rawValue) tier: limit \(refusal.allowance). Retry after \(refusal.retryAfterSeconds) s."
            case .streams:
                "Too many requests in flight from this peer: limit \(refusal.allowance) at once. Retry when one has finished."
            }
        return OpenAIError(
            status: .tooManyRequests, message: message, type: refusal.limit.rawValue,
            code: refusal.limit == .streams ? "too_many_concurrent_requests" : "rate_limit_exceeded"
        )
    }
}

extension RateLimitRefusal {
    /// `Retry-After` (RFC 9110), and the limit in OpenAI's `x-ratelimit-limit-*` header.
    var headers: HTTPHeaders {
        var headers = HTTPHeaders()
        headers.add(name: "Retry-After", value: "\(retryAfterSeconds)")
        headers.add(name: "x-ratelimit-limit-\(limit.rawValue)", value: "\(allowance)")
        return headers
    }
}
