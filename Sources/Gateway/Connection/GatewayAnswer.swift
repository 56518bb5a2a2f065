import Addressing
import Logging
import NIOCore
import NIOHTTP1
import PopConfig
import Receipts
import Registry

/// The answers the gateway makes itself (errors, the model listing, reads of the receipt log), but
/// for their end, which ``HTTPConnection`` writes once the request is settled.
enum GatewayAnswer {
    static func write(
        error: OpenAIError, request: HTTPConnection.Request, keepAlive: Bool, to channelContext: ChannelHandlerContext,
        extraHeaders: HTTPHeaders = [:]
    ) {
        writeJSON(
            status: error.status, body: error.body, request: request, keepAlive: keepAlive, to: channelContext,
            extraHeaders: extraHeaders
        )
    }

    static func writeJSON(
        status: HTTPResponseStatus, body bytes: [UInt8], request: HTTPConnection.Request, keepAlive: Bool,
        to channelContext: ChannelHandlerContext, extraHeaders: HTTPHeaders = [:]
    ) {
        // NIO's encoder gives no answer to CONNECT a body (RFC 9110, section 9.3.6 says so of its 2xx):
        // the head then claims none, and the error's code travels in its status and `Allow`.
        let body = request.head.method == .CONNECT ? ByteBuffer() : ByteBuffer(bytes: bytes)
        var headers = HTTPHeaders()
        if body.readableBytes > 0 { headers.add(name: "Content-Type", value: "application/json") }
        headers.add(name: "Content-Length", value: "\(body.readableBytes)")
        headers.add(name: "X-Request-Id", value: request.id)
        if request.isReceipted { headers.add(name: "X-Receipt-Id", value: request.receiptHeader) }
        headers.add(contentsOf: extraHeaders)
        if !keepAlive { headers.add(name: "Connection", value: "close") }
        let head = HTTPResponseHead(version: .http1_1, status: status, headers: headers)
        channelContext.write(NIOAny(HTTPServerResponsePart.head(head)), promise: nil)
        channelContext.write(NIOAny(HTTPServerResponsePart.body(.byteBuffer(body))), promise: nil)
    }
}
