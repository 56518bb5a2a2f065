import Gateway
import NIOCore

/// A worker's server-sent-event stream as the gateway passes it on (``UsageStreamFilter``), in
/// pieces cut where the input says: the usage is read whatever the cuts, and with nothing to
/// remove every byte goes through unchanged and in order.
///
/// Input: one flag byte (bit 0: remove the usage-only chunk), three split points, the stream.
enum UpstreamSSETarget {
    static let target = FuzzTarget(
        name: "upstream-sse", summary: "a worker's SSE stream through the usage filter, in arbitrary pieces", run: run
    )

    static func run(_ data: UnsafeRawBufferPointer) {
        var input = FuzzInput(data)
        let removesUsageChunk = input.byte() & 1 == 1
        let pieces = input.restInPieces(maximum: 4)
        let stream = pieces.flatMap { $0 }

        var filter = UsageStreamFilter(removesUsageChunk: removesUsageChunk)
        var out: [UInt8] = []
        for piece in pieces { out += filter.pass(ByteBuffer(bytes: piece)).readableBytesView }
        out += filter.finish().readableBytesView

        var whole = UsageStreamFilter(removesUsageChunk: removesUsageChunk)
        var wholeOut = Array(whole.pass(ByteBuffer(bytes: stream)).readableBytesView)
        wholeOut += whole.finish().readableBytesView

        FuzzCheck.require(out == wholeOut, "how the stream was cut changed what the client gets")
        FuzzCheck.require(filter.usage == whole.usage, "how the stream was cut changed the usage read")
        if !removesUsageChunk { FuzzCheck.require(out == stream, "a stream with nothing to remove was altered") }
        if let usage = filter.usage {
            FuzzCheck.require(usage.prompt >= 0 && usage.completion >= 0, "a negative token count was read")
            _ = usage.total
        }
    }
}
