import NIOCore
import NIOHTTP1
import Receipts

/// Answers a request the HTTP parser rejects, in place of NIO's bare 400: 431 when the head is
/// larger than `max_header_bytes`, 400 for anything else malformed, each with an OpenAI-style body
/// that says what was wrong. The decoder closes the connection afterwards, once what the client
/// still sends has been drained (``SilentCloseHandler``).
final class ProtocolErrorResponder: ChannelDuplexHandler, RemovableChannelHandler {
    typealias InboundIn = HTTPServerRequestPart
    typealias InboundOut = HTTPServerRequestPart
    typealias OutboundIn = HTTPServerResponsePart
    typealias OutboundOut = HTTPServerResponsePart

    private let maxHeaderBytes: Int
    /// A response has begun and not ended: an error can no longer be answered with one.
    private var responding = false

    init(maxHeaderBytes: Int) {
        self.maxHeaderBytes = maxHeaderBytes
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        if !responding, let parserError = error as? HTTPParserError {
            let answer: OpenAIError =
                parserError == .headerOverflow
                ? OpenAIError(
                    status: .requestHeaderFieldsTooLarge,
                    message: "The request line and headers exceed \(maxHeaderBytes) bytes.", code: "headers_too_large"
                )
                : OpenAIError(
                    status: .badRequest, message: "The request is not valid HTTP/1.1: \(Self.fault(parserError)).",
                    code: "malformed_request"
                )
            let body = ByteBuffer(bytes: answer.body)
            var headers = HTTPHeaders()
            headers.add(name: "Content-Type", value: "application/json")
            headers.add(name: "Content-Length", value: "\(body.readableBytes)")
            headers.add(name: "Connection", value: "close")
            // An id like every other answer's, so a client's report can be matched with the log line.
            let requestID = RequestID.header(RequestID.make())
            headers.add(name: "X-Request-Id", value: requestID)
            context.write(wrapOutboundOut(.head(HTTPResponseHead(version: .http1_1, status: answer.status, headers: headers))), promise: nil)
            context.write(wrapOutboundOut(.body(.byteBuffer(body))), promise: nil)
            context.writeAndFlush(wrapOutboundOut(.end(nil)), promise: nil)
            responding = true
            // The decoder closes the connection next; the rest of what the client sent (the head
            // past the limit) is drained first, so the answer is not lost to a reset.
            try? context.pipeline.syncOperations.addHandler(SilentCloseHandler(), position: .first)
        }
        context.fireErrorCaught(error)
    }

    /// What was wrong, in the client's terms: never the parser's own names.
    static func fault(_ error: HTTPParserError) -> String {
        switch error {
        case .invalidMethod: "the method is not a valid token"
        case .invalidURL, .invalidHost, .invalidPort, .invalidPath, .invalidQueryString, .invalidFragment:
            "the request target is not a valid path"
        case .invalidVersion, .invalidStatus, .invalidInternalState, .strictModeAssertion:
            "the request line is not 'METHOD /path HTTP/1.1'"
        case .invalidHeaderToken, .invalidConstant, .lfExpected, .invalidCharactersUsed:
            "a header line is malformed (a name or value has a character HTTP does not allow, or a line does not end in CRLF)"
        case .invalidContentLength, .unexpectedContentLength:
            "Content-Length is not a single whole number, or is sent with Transfer-Encoding"
        case .invalidChunkSize: "the chunked body is malformed"
        case .headerOverflow: "the headers are too large"
        default: "it cannot be parsed"
        }
    }

    func write(context: ChannelHandlerContext, data: NIOAny, promise: EventLoopPromise<Void>?) {
        switch unwrapOutboundIn(data) {
        case .head(let head) where head.status.code >= 200: responding = true
        case .end: responding = false
        default: break
        }
        context.write(data, promise: promise)
    }
}
