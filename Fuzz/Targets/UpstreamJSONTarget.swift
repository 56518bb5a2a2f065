import Gateway
import NIOCore

/// A worker's whole (not streamed) JSON answer as the gateway keeps its end to read the usage
/// (``UsageTail``, ``FlatJSON``), fed in pieces: the usage read does not depend on the cuts, and
/// counts are never negative (they are charged against the caller's token allowance).
///
/// Input: three split points, the body.
enum UpstreamJSONTarget {
    static let target = FuzzTarget(
        name: "upstream-json", summary: "a worker's JSON answer: the usage tail and its flat integer reader", run: run
    )

    static func run(_ data: UnsafeRawBufferPointer) {
        var input = FuzzInput(data)
        let pieces = input.restInPieces(maximum: 4)
        var tail = UsageTail()
        for piece in pieces { tail.append(ByteBuffer(bytes: piece)) }
        var whole = UsageTail()
        whole.append(ByteBuffer(bytes: pieces.flatMap { $0 }))
        let usage = tail.usage
        FuzzCheck.require(usage == whole.usage, "how the answer was cut changed the usage read")
        if let usage {
            FuzzCheck.require(usage.prompt >= 0 && usage.completion >= 0, "a negative token count was read")
            _ = usage.total
        }
        // The reader on its own, on the whole text as an object.
        if let members = FlatJSON.integerMembers(ofObject: pieces.flatMap { $0 }[...]) {
            _ = TokenUsage(usageObjectText: pieces.flatMap { $0 }[...])
            _ = members.count
        }
    }
}
