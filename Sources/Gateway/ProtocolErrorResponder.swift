import NIOCore
import NIOHTTP1

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
                    status: .badRequest, message: "The request is not valid HTTP/1.1 (\(parserError)).",
                    code: "malformed_request"
                )
            let body = ByteBuffer(bytes: answer.body)
            var headers = HTTPHeaders()
            headers.add(name: "Content-Type", value: "application/json")
            headers.add(name: "Content-Length", value: "\(body.readableBytes)")
            headers.add(name: "Connection", value: "close")
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

    func write(context: ChannelHandlerContext, data: NIOAny, promise: EventLoopPromise<Void>?) {
        switch unwrapOutboundIn(data) {
        case .head(let head) where head.status.code >= 200: responding = true
        case .end: responding = false
        default: break
        }
        context.write(data, promise: promise)
    }
}
