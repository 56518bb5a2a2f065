import Gateway
import NIOCore
import NIOEmbedded
import NIOPosix
import Testing

/// Records close requests instead of acting on the output half-close, which EmbeddedChannel
/// would turn into a full close.
final class CloseRecorder: ChannelOutboundHandler, @unchecked Sendable {
    typealias OutboundIn = ByteBuffer
    var modes: [CloseMode] = []

    func close(context: ChannelHandlerContext, mode: CloseMode, promise: EventLoopPromise<Void>?) {
        modes.append(mode)
        if mode == .output { promise?.succeed(()) } else { context.close(mode: mode, promise: promise) }
    }
}

@Suite struct SilentCloseHandlerTests {
    func makeChannel(timeout: TimeAmount = .seconds(10), limit: Int = 1 << 20) throws -> (EmbeddedChannel, CloseRecorder) {
        let recorder = CloseRecorder()
        let channel = EmbeddedChannel()
        try channel.pipeline.syncOperations.addHandler(recorder)
        try channel.pipeline.syncOperations.addHandler(SilentCloseHandler(drainTimeout: timeout, drainLimit: limit))
        try channel.connect(to: SocketAddress(ipAddress: "198.51.100.66", port: 40000)).wait()
        return (channel, recorder)
    }

    @Test func sendsNothingAndHalfClosesAtOnce() throws {
        let (channel, recorder) = try makeChannel()
        #expect(recorder.modes == [.output])
        try channel.writeInbound(ByteBuffer(string: "GET / HTTP/1.1\r\nHost: x\r\n\r\n"))
        #expect(try channel.readOutbound(as: ByteBuffer.self) == nil)
        // The request was consumed (so no unread bytes can trigger an RST), not passed on.
        #expect(try channel.readInbound(as: ByteBuffer.self) == nil)
        #expect(channel.isActive)
    }

    @Test func closesWhenTheClientCloses() throws {
        let (channel, recorder) = try makeChannel()
        channel.pipeline.fireUserInboundEventTriggered(ChannelEvent.inputClosed)
        #expect(recorder.modes == [.output, .all])
        #expect(!channel.isActive)
    }

    @Test func closesWhenTheDrainTimeoutExpires() throws {
        let (channel, _) = try makeChannel(timeout: .seconds(3))
        channel.embeddedEventLoop.advanceTime(by: .seconds(2))
        #expect(channel.isActive)
        channel.embeddedEventLoop.advanceTime(by: .seconds(2))
        #expect(!channel.isActive)
    }

    @Test func closesOnceTheDrainLimitIsReached() throws {
        let (channel, _) = try makeChannel(limit: 1000)
        try channel.writeInbound(ByteBuffer(repeating: 0x41, count: 999))
        #expect(channel.isActive)
        try channel.writeInbound(ByteBuffer(repeating: 0x41, count: 10))
        #expect(!channel.isActive)
        #expect(try channel.readOutbound(as: ByteBuffer.self) == nil)
    }

    /// On a real loopback socket: a client that sends a 100 KB POST sees end-of-stream with
    /// zero bytes received, and never a connection reset.
    @Test func aRealClientReadsZeroBytesAndACleanEndOfStream() async throws {
        let group = MultiThreadedEventLoopGroup.singleton
        let server = try await ServerBootstrap(group: group)
            .childChannelInitializer { channel in
                channel.eventLoop.makeCompletedFuture { try channel.pipeline.syncOperations.addHandler(SilentCloseHandler()) }
            }
            .bind(host: "127.0.0.1", port: 0).get()
        defer { server.close(promise: nil) }
        let port = try #require(server.localAddress?.port)

        let observer = ClientObserver(promise: group.next().makePromise())
        let client = try await ClientBootstrap(group: group)
            .channelOption(.allowRemoteHalfClosure, value: true)
            .channelInitializer { channel in
                channel.eventLoop.makeCompletedFuture { try channel.pipeline.syncOperations.addHandler(observer) }
            }
            .connect(host: "127.0.0.1", port: port).get()
        var request = ByteBuffer(string: "POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nContent-Length: 102400\r\n\r\n")
        request.writeRepeatingByte(0x61, count: 102_400)
        try await client.writeAndFlush(request)
        // The server's FIN arrives first; the client then closes its side, as HTTP clients do.
        let outcome = try await observer.promise.futureResult.get()
        #expect(outcome.bytes == 0)
        #expect(outcome.error == nil, "the client saw \(String(describing: outcome.error))")
        client.close(promise: nil)
    }
}

/// Counts what a client receives and reports how its input ended.
final class ClientObserver: ChannelInboundHandler, @unchecked Sendable {
    typealias InboundIn = ByteBuffer
    struct Outcome: Sendable {
        let bytes: Int
        let error: String?
    }

    let promise: EventLoopPromise<Outcome>
    private var bytes = 0
    private var error: String?
    private var reported = false

    init(promise: EventLoopPromise<Outcome>) { self.promise = promise }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        bytes += unwrapInboundIn(data).readableBytes
    }

    func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        if case ChannelEvent.inputClosed = event { report() }
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        self.error = "\(error)"
        report()
    }

    func channelInactive(context: ChannelHandlerContext) {
        report()
    }

    private func report() {
        guard !reported else { return }
        reported = true
        promise.succeed(Outcome(bytes: bytes, error: error))
    }
}
