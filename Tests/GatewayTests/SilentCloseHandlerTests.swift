import Gateway
import NIOCore
import NIOEmbedded
import Testing

@Suite struct SilentCloseHandlerTests {
    @Test func sendsNothingAndHalfClosesAtOnce() throws {
        let channel = EmbeddedChannel()
        try channel.pipeline.syncOperations.addHandler(SilentCloseHandler(drainTimeout: .seconds(10)))
        try channel.connect(to: SocketAddress(ipAddress: "198.51.100.66", port: 40000)).wait()
        try channel.writeInbound(ByteBuffer(string: "GET / HTTP/1.1\r\nHost: x\r\n\r\n"))
        #expect(try channel.readOutbound(as: ByteBuffer.self) == nil)
        // The request was consumed (so no unread bytes can trigger an RST), not passed on.
        #expect(try channel.readInbound(as: ByteBuffer.self) == nil)
        #expect(channel.isActive)
    }

    @Test func closesWhenTheDrainTimeoutExpires() throws {
        let channel = EmbeddedChannel()
        try channel.pipeline.syncOperations.addHandler(SilentCloseHandler(drainTimeout: .seconds(3)))
        try channel.connect(to: SocketAddress(ipAddress: "198.51.100.66", port: 40000)).wait()
        channel.embeddedEventLoop.advanceTime(by: .seconds(2))
        #expect(channel.isActive)
        channel.embeddedEventLoop.advanceTime(by: .seconds(2))
        #expect(!channel.isActive)
    }

    @Test func closesOnceTheDrainLimitIsReached() throws {
        let channel = EmbeddedChannel()
        try channel.pipeline.syncOperations.addHandler(SilentCloseHandler(drainTimeout: .seconds(10), drainLimit: 1000))
        try channel.connect(to: SocketAddress(ipAddress: "198.51.100.66", port: 40000)).wait()
        try channel.writeInbound(ByteBuffer(repeating: 0x41, count: 999))
        #expect(channel.isActive)
        try channel.writeInbound(ByteBuffer(repeating: 0x41, count: 10))
        #expect(!channel.isActive)
        #expect(try channel.readOutbound(as: ByteBuffer.self) == nil)
    }
}
