import NIOCore
import NIOHTTP1

// NIO's response encoder takes IOData bodies, and IOData is Sendable, so the async channel carries
// HTTPServerResponsePart itself and no ByteBuffer-to-IOData translating handler is needed.
typealias HTTPServerChannel = NIOAsyncChannel<HTTPServerRequestPart, HTTPServerResponsePart>
typealias ResponseWriter = NIOAsyncChannelOutboundWriter<HTTPServerResponsePart>

/// Writes the response to one request with correct HTTP/1.x framing: `Content-Length` for whole
/// bodies, chunked encoding for streams (or close-delimited for HTTP/1.0 clients), and the
/// `Connection` header the keep-alive decision needs.
struct HTTPExchange {
    let writer: ResponseWriter
    let version: HTTPVersion
    /// Whether the connection stays open after this response.
    private(set) var keepAlive: Bool
    /// HEAD responses describe a body without sending it.
    let suppressBody: Bool

    init(request: HTTPRequestHead, writer: ResponseWriter) {
        self.writer = writer
        self.version = request.version
        self.keepAlive = request.isKeepAlive
        self.suppressBody = request.method == .HEAD
    }

    /// Marks the connection to close after this response (a body left unread, a stream framed by
    /// the close).
    mutating func closeAfterResponse() {
        keepAlive = false
    }

    /// Sends `body` whole.
    func send(
        status: HTTPResponseStatus, contentType: String?, body: ByteBuffer, extraHeaders: [(String, String)] = []
    ) async throws {
        var headers = baseHeaders()
        if let contentType { headers.add(name: "Content-Type", value: contentType) }
        headers.add(name: "Content-Length", value: "\(body.readableBytes)")
        for (name, value) in extraHeaders { headers.add(name: name, value: value) }
        try await writer.write(.head(HTTPResponseHead(version: version, status: status, headers: headers)))
        if !suppressBody && body.readableBytes > 0 { try await writer.write(.body(.byteBuffer(body))) }
        try await writer.write(.end(nil))
    }

    /// Sends an error in `engine`'s shape; a 405 names the method the path does take.
    func send(_ error: SimulatorError, engine: InferenceEngine, allow: HTTPMethod? = nil) async throws {
        let extra = allow.map { [("Allow", $0.rawValue)] } ?? []
        try await send(
            status: error.status, contentType: "application/json", body: error.body(for: engine), extraHeaders: extra
        )
    }

    /// A `100 Continue`, for clients that wait for one before sending a body.
    func sendContinue() async throws {
        try await writer.write(.head(HTTPResponseHead(version: version, status: .continue)))
    }

    /// Starts a server-sent-event stream. Without a length NIO frames the body as chunked on
    /// HTTP/1.1; HTTP/1.0 has no chunking, so there the end of the stream is the connection's close.
    mutating func beginEventStream() async throws {
        if version < .http1_1 { keepAlive = false }
        var headers = baseHeaders()
        headers.add(name: "Content-Type", value: "text/event-stream")
        headers.add(name: "Cache-Control", value: "no-cache")
        try await writer.write(.head(HTTPResponseHead(version: version, status: .ok, headers: headers)))
    }

    /// Sends one piece of the stream; NIO's async writer flushes it before returning.
    func sendEvent(_ bytes: ByteBuffer) async throws {
        guard !suppressBody else { return }
        try await writer.write(.body(.byteBuffer(bytes)))
    }

    /// Ends the stream.
    func endEventStream() async throws {
        try await writer.write(.end(nil))
    }

    private func baseHeaders() -> HTTPHeaders {
        var headers = HTTPHeaders()
        if !keepAlive {
            headers.add(name: "Connection", value: "close")
        } else if version < .http1_1 {
            // HTTP/1.0 closes by default; say that this connection stays open.
            headers.add(name: "Connection", value: "keep-alive")
        }
        return headers
    }
}

extension HTTPVersion {
    fileprivate static func < (lhs: HTTPVersion, rhs: HTTPVersion) -> Bool {
        (lhs.major, lhs.minor) < (rhs.major, rhs.minor)
    }
}
