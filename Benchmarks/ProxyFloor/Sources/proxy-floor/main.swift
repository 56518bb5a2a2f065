// proxy-floor LISTEN_HOST LISTEN_PORT UPSTREAM_HOST UPSTREAM_PORT
//
// Each request is read whole, sent on a kept-alive upstream connection of the same event loop, and
// the answer written back as it is read, flushed once per read: popgated's data path (NIO's HTTP/1.1
// server and client pipelines, one exchange per event loop, a pool per loop) with nothing else.
import NIOCore
import NIOHTTP1
import NIOPosix

let arguments = CommandLine.arguments
guard arguments.count == 5, let listenPort = Int(arguments[2]), Int(arguments[4]) != nil else {
    fatalError("usage: proxy-floor LISTEN_HOST LISTEN_PORT UPSTREAM_HOST UPSTREAM_PORT")
}

let group = MultiThreadedEventLoopGroup(numberOfThreads: System.coreCount)
let pool = UpstreamPool(group: group)

enum UpstreamAddress {
    static let host = CommandLine.arguments[3]
    static let port = Int(CommandLine.arguments[4])!
}

/// Idle upstream connections, one list per event loop, each touched only on its loop. The table of
/// lists is made before any connection and never changes.
final class UpstreamPool: @unchecked Sendable {
    private final class Idle { var connections: [Upstream] = [] }
    private let idle: [ObjectIdentifier: Idle]

    init(group: MultiThreadedEventLoopGroup) {
        idle = Dictionary(uniqueKeysWithValues: group.makeIterator().map { (ObjectIdentifier($0), Idle()) })
    }

    func take(on loop: any EventLoop) -> Upstream? {
        idle[ObjectIdentifier(loop)]!.connections.popLast()
    }

    func park(_ upstream: Upstream, on loop: any EventLoop) {
        idle[ObjectIdentifier(loop)]!.connections.append(upstream)
    }
}

/// One upstream connection's handler: the answer to the request in flight goes to `client`.
final class Upstream: ChannelInboundHandler, @unchecked Sendable {
    typealias InboundIn = HTTPClientResponsePart
    typealias OutboundOut = HTTPClientRequestPart
    var context: ChannelHandlerContext?
    var client: ChannelHandlerContext?

    func handlerAdded(context: ChannelHandlerContext) { self.context = context }

    func send(_ head: HTTPRequestHead, _ body: ByteBuffer, to client: ChannelHandlerContext) {
        self.client = client
        var head = head
        head.headers.replaceOrAdd(name: "Host", value: "\(UpstreamAddress.host):\(UpstreamAddress.port)")
        head.headers.replaceOrAdd(name: "Content-Length", value: "\(body.readableBytes)")
        head.headers.remove(name: "Connection")
        context!.write(wrapOutboundOut(.head(head)), promise: nil)
        context!.write(wrapOutboundOut(.body(.byteBuffer(body))), promise: nil)
        context!.writeAndFlush(wrapOutboundOut(.end(nil)), promise: nil)
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        guard let client else { return }
        switch unwrapInboundIn(data) {
        case .head(let head):
            var headers = HTTPHeaders()
            for name in ["Content-Type", "Content-Length"] {
                if let value = head.headers.first(name: name) { headers.add(name: name, value: value) }
            }
            client.write(NIOAny(HTTPServerResponsePart.head(HTTPResponseHead(version: .http1_1, status: head.status, headers: headers))), promise: nil)
        case .body(let chunk):
            client.write(NIOAny(HTTPServerResponsePart.body(.byteBuffer(chunk))), promise: nil)
        case .end:
            self.client = nil
            pool.park(self, on: context.eventLoop)
            client.writeAndFlush(NIOAny(HTTPServerResponsePart.end(nil)), promise: nil)
        }
    }

    func channelReadComplete(context: ChannelHandlerContext) {
        client?.flush()
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        client?.close(promise: nil)
        context.close(promise: nil)
    }
}

/// One client connection: a request read whole, then proxied.
final class Client: ChannelInboundHandler, @unchecked Sendable {
    typealias InboundIn = HTTPServerRequestPart
    var head: HTTPRequestHead?
    var body = ByteBuffer()

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        switch unwrapInboundIn(data) {
        case .head(let head):
            self.head = head
            body.clear()
        case .body(var chunk):
            body.writeBuffer(&chunk)
        case .end:
            guard let head else { return }
            let body = body
            if let upstream = pool.take(on: context.eventLoop) {
                return upstream.send(head, body, to: context)
            }
            let loopBound = NIOLoopBound(context, eventLoop: context.eventLoop)
            ClientBootstrap(group: context.eventLoop)
                .channelOption(.tcpOption(.tcp_nodelay), value: 1)
                .channelInitializer { channel in
                    channel.eventLoop.makeCompletedFuture {
                        try channel.pipeline.syncOperations.addHTTPClientHandlers()
                        try channel.pipeline.syncOperations.addHandler(Upstream())
                    }
                }
                .connect(host: UpstreamAddress.host, port: UpstreamAddress.port)
                .whenComplete { result in
                    let context = loopBound.value
                    switch result {
                    case .success(let channel):
                        let upstream = try! channel.pipeline.syncOperations.handler(type: Upstream.self)
                        upstream.send(head, body, to: context)
                    case .failure:
                        context.close(promise: nil)
                    }
                }
        }
    }
}

let server = try ServerBootstrap(group: group)
    .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
    .serverChannelOption(.backlog, value: 1024)
    .childChannelOption(.tcpOption(.tcp_nodelay), value: 1)
    .childChannelInitializer { channel in
        channel.eventLoop.makeCompletedFuture {
            try channel.pipeline.syncOperations.configureHTTPServerPipeline(withErrorHandling: false)
            try channel.pipeline.syncOperations.addHandler(Client())
        }
    }
    .bind(host: arguments[1], port: listenPort).wait()
print("proxy-floor listening on \(server.localAddress!)")
try server.closeFuture.wait()
