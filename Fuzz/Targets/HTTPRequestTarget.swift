import Gateway
import NIOCore
import NIOEmbedded

/// popgated's HTTP request path, through the pipeline the server sets up (``GatewayChannelInitializer``)
/// on an in-memory connection from a live peer (or, for one input in sixteen, from a non-peer).
///
/// Input: one flag byte (low nibble 0: the source is not a peer; bit 4: let the clock run past the
/// request deadlines while connected), two split points, then the bytes the peer sends, delivered
/// in up to three reads.
package enum HTTPRequestTarget {
    static let target = FuzzTarget(
        name: "http-request", summary: "popgated's HTTP pipeline (NIO decoder, limits, auth, routing) in-process",
        run: run
    )

    static func run(_ data: UnsafeRawBufferPointer) {
        let (written, sent, fromStranger) = exchange(data)
        if fromStranger {
            FuzzCheck.require(written.isEmpty, "a source that is not a live peer was sent a byte")
            return
        }
        HTTPResponseStream.check(written, after: sent)
    }

    /// Runs one connection: what popgated wrote, what the peer sent, and whether the source was a non-peer.
    package static func exchange(_ data: UnsafeRawBufferPointer) -> (written: [UInt8], sent: [UInt8], fromStranger: Bool) {
        var input = FuzzInput(data)
        let flags = input.byte()
        let fromStranger = flags & 0x0f == 0
        let outlastsDeadlines = flags & 0x10 != 0
        let reads = input.restInPieces(maximum: 3)
        let sent = reads.flatMap { $0 }

        let channel = EmbeddedChannel()
        let source = try! SocketAddress(
            ipAddress: fromStranger ? FuzzGateway.strangerAddress : FuzzGateway.peerAddress, port: 40000
        )
        channel.remoteAddress = source
        do {
            try FuzzGateway.shared.initializer().initialize(channel)
            try channel.connect(to: source).wait()
        } catch {
            fatalError("an in-memory connection cannot be set up: \(error)")
        }
        for read in reads where channel.isActive {
            // Errors the pipeline raises end the connection, as they do on a socket; they are not findings.
            _ = try? channel.writeInbound(ByteBuffer(bytes: read))
            channel.embeddedEventLoop.run()
        }
        if outlastsDeadlines { channel.embeddedEventLoop.advanceTime(by: .seconds(120)) }
        // Not `finish()`, which waits for the close: a silent close (of a non-peer, or after a refusal)
        // drains until its timer fires, and an embedded loop's timers fire only when its clock is moved.
        channel.close(promise: nil)
        channel.embeddedEventLoop.run()
        // Every timer (deadlines, drains, a receipt's checkpoint wait) fires now: nothing outlives the input.
        channel.embeddedEventLoop.advanceTime(by: .hours(2))
        FuzzCheck.require(!channel.isActive, "a connection was still open after every deadline had passed")

        var written: [UInt8] = []
        while let part = try? channel.readOutbound(as: IOData.self) {
            if case .byteBuffer(let buffer) = part { written += buffer.readableBytesView }
        }
        try? channel.embeddedEventLoop.syncShutdownGracefully()
        return (written, sent, fromStranger)
    }
}
