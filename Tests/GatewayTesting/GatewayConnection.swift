import NIOConcurrencyHelpers
import NIOCore
import NIOHTTP1
import NIOPosix

/// One client connection to a live gateway, from a source address of the test's choosing, read
/// part by part as the gateway writes: a response's head, its body, a stream's events. Built on
/// NIO's own HTTP codec, so the gateway's framing is checked by a strict parser.
///
/// The connection lives for the closure given to ``LiveGateway/connect(from:_:)``: returning from
/// it hangs up at once, whatever the gateway is still sending (a client that cuts a stream).
package struct GatewayConnection {
    private var inbound: NIOAsyncChannelInboundStream<HTTPClientResponsePart>.AsyncIterator
    private let outbound: NIOAsyncChannelOutboundWriter<HTTPClientRequestPart>
    private let counter: ByteCounter
    private var events = ServerSentEventReader()

    /// The gateway answered with something other than what the test read for.
    package struct UnexpectedPart: Error, CustomStringConvertible {
        package let description: String
    }

    /// Connects from `source` (bound before connecting) to 127.0.0.1:`port`, runs `body`, and closes.
    static func with<Result: Sendable>(
        port: Int, from source: String, group: any EventLoopGroup,
        _ body: (inout GatewayConnection) async throws -> Result
    ) async throws -> Result {
        let counter = ByteCounter()
        let channel = try await ClientBootstrap(group: group)
            .bind(to: try SocketAddress(ipAddress: source, port: 0))
            .channelOption(.tcpOption(.tcp_nodelay), value: 1)
            // The gateway's FIN ends what is read, not the connection: a request written as a silent
            // close's FIN arrives is still sent (the gateway drains it), as it is from a real socket.
            .channelOption(.allowRemoteHalfClosure, value: true)
            .connect(host: "127.0.0.1", port: port) { channel in
                channel.eventLoop.makeCompletedFuture {
                    try channel.pipeline.syncOperations.addHandler(counter)
                    try channel.pipeline.syncOperations.addHTTPClientHandlers()
                    return try NIOAsyncChannel<HTTPClientResponsePart, HTTPClientRequestPart>(
                        wrappingChannelSynchronously: channel
                    )
                }
            }
        return try await channel.executeThenClose { inbound, outbound in
            var connection = GatewayConnection(
                inbound: inbound.makeAsyncIterator(), outbound: outbound, counter: counter
            )
            return try await body(&connection)
        }
    }

    private init(
        inbound: NIOAsyncChannelInboundStream<HTTPClientResponsePart>.AsyncIterator,
        outbound: NIOAsyncChannelOutboundWriter<HTTPClientRequestPart>, counter: ByteCounter
    ) {
        self.inbound = inbound
        self.outbound = outbound
        self.counter = counter
    }

    /// How many bytes the gateway has sent on this connection so far (as read off the socket).
    package var bytesReceived: Int { counter.total }

    // MARK: Sending

    /// Sends a request: `Authorization: Bearer apiKey` when a key is given, a JSON body with its length.
    package func send(
        _ method: HTTPMethod, _ path: String, apiKey: String?, json: String? = nil,
        headers extra: [(String, String)] = []
    ) async throws {
        var headers = HTTPHeaders([("Host", "popgate.test")])
        if let apiKey { headers.add(name: "Authorization", value: "Bearer \(apiKey)") }
        if let json {
            headers.add(name: "Content-Type", value: "application/json")
            headers.add(name: "Content-Length", value: "\(json.utf8.count)")
        }
        headers.add(contentsOf: extra)
        try await outbound.write(.head(HTTPRequestHead(version: .http1_1, method: method, uri: path, headers: headers)))
        if let json { try await outbound.write(.body(.byteBuffer(ByteBuffer(string: json)))) }
        try await outbound.write(.end(nil))
    }

    /// Sends a chat completion request.
    package func send(_ chat: ChatRequest, apiKey: String?) async throws {
        try await send(.POST, "/v1/chat/completions", apiKey: apiKey, json: chat.json)
    }

    // MARK: Receiving

    /// The next response's head.
    package mutating func head() async throws -> HTTPResponseHead {
        switch try await inbound.next() {
        case .head(let head): return head
        case .body, .end: throw UnexpectedPart(description: "a body part or an end came where a response head was due")
        case nil: throw UnexpectedPart(description: "the gateway closed the connection before a response head")
        }
    }

    /// The next piece of the body as the gateway wrote it, or nil at the response's end.
    package mutating func bodyPart() async throws -> ByteBuffer? {
        switch try await inbound.next() {
        case .body(let part): return part
        case .end: return nil
        case .head: throw UnexpectedPart(description: "a response head came where a body part was due")
        case nil: throw UnexpectedPart(description: "the gateway closed the connection before the response ended")
        }
    }

    /// The rest of the body, to the response's end.
    package mutating func body() async throws -> String {
        var text = ""
        while let part = try await bodyPart() { text += String(buffer: part) }
        return text
    }

    /// The next event of an event stream, or nil at the response's end.
    package mutating func event() async throws -> ServerSentEvent? {
        while true {
            if let event = events.next() { return event }
            guard let part = try await bodyPart() else {
                guard events.leftover.isEmpty else {
                    throw UnexpectedPart(description: "the stream ended inside an event: \(events.leftover)")
                }
                return nil
            }
            events.append(part)
        }
    }

    /// Every remaining event, to the response's end.
    package mutating func events() async throws -> [ServerSentEvent] {
        var all: [ServerSentEvent] = []
        while let event = try await event() { all.append(event) }
        return all
    }

    /// Events until `count` of them carry generated text, or the stream ends; a caller that then
    /// returns from its closure hangs up with the rest of the stream unread.
    package mutating func events(untilContent count: Int) async throws -> [ServerSentEvent] {
        var read: [ServerSentEvent] = []
        while read.filter({ $0.content != nil }).count < count, let event = try await event() { read.append(event) }
        return read
    }

    /// Waits for the gateway to end its side of the connection; true when it did so cleanly (a FIN),
    /// false when a response part came first. A reset throws.
    package mutating func closedByGateway() async throws -> Bool {
        guard try await inbound.next() != nil else { return true }
        return false
    }
}

extension HTTPResponseHead {
    /// `X-Receipt-Id`: the id of the receipt the gateway writes for the request.
    package var receiptID: String? { headers.first(name: "X-Receipt-Id") }
}

/// Counts the bytes read off the socket, in front of the HTTP codec.
private final class ByteCounter: ChannelInboundHandler, Sendable {
    typealias InboundIn = ByteBuffer
    typealias InboundOut = ByteBuffer

    private let count = NIOLockedValueBox(0)

    var total: Int { count.withLockedValue { $0 } }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        let bytes = unwrapInboundIn(data).readableBytes
        count.withLockedValue { $0 += bytes }
        context.fireChannelRead(data)
    }
}
