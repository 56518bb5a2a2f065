import NIOCore

/// Keeps the end of a whole (not streamed) JSON response as it passes, to read its `usage` at the
/// end without holding the whole body: the OpenAI-style APIs put `usage` after the (possibly
/// megabytes of) choices, embeddings or output.
package struct UsageTail {
    /// How much of the end is kept: room for `usage` and the few small fields after it.
    package static let capacity = 64 << 10

    private var tail = ByteBuffer()

    package init() {}

    package mutating func append(_ chunk: ByteBuffer) {
        var chunk = chunk
        if chunk.readableBytes >= Self.capacity {
            chunk.moveReaderIndex(forwardBy: chunk.readableBytes - Self.capacity)
            tail.clear()
        } else if tail.readableBytes + chunk.readableBytes > Self.capacity {
            tail.moveReaderIndex(forwardBy: tail.readableBytes + chunk.readableBytes - Self.capacity)
            tail.discardReadBytes()
        }
        tail.writeBuffer(&chunk)
    }

    /// The usage of the response: the object after the last `"usage":` in the kept end (the
    /// top-level one, or the Responses API's inside `response`, which is as good).
    package var usage: TokenUsage? {
        let bytes = Array(tail.readableBytesView)
        let key = Array("\"usage\"".utf8)
        guard bytes.count > key.count else { return nil }
        var start = bytes.count - key.count
        while start >= 0 {
            if bytes[start] == UInt8(ascii: "\""), bytes[start..<(start + key.count)].elementsEqual(key),
               let object = Self.object(in: bytes, after: start + key.count)
            {
                return TokenUsage(usageObjectText: object)
            }
            start -= 1
        }
        return nil
    }

    /// The JSON object that follows `: ` at `index`, by brace counting (strings respected).
    private static func object(in bytes: [UInt8], after index: Int) -> ArraySlice<UInt8>? {
        var i = index
        while i < bytes.count, bytes[i] == UInt8(ascii: " ") || bytes[i] == UInt8(ascii: "\n") { i += 1 }
        guard i < bytes.count, bytes[i] == UInt8(ascii: ":") else { return nil }
        i += 1
        while i < bytes.count, bytes[i] == UInt8(ascii: " ") || bytes[i] == UInt8(ascii: "\n") { i += 1 }
        guard i < bytes.count, bytes[i] == UInt8(ascii: "{") else { return nil }
        let begin = i
        var depth = 0
        var inString = false
        var escaped = false
        while i < bytes.count {
            let byte = bytes[i]
            if inString {
                if escaped { escaped = false } else if byte == UInt8(ascii: "\\") { escaped = true } else if byte == UInt8(ascii: "\"") { inString = false }
            } else if byte == UInt8(ascii: "\"") {
                inString = true
            } else if byte == UInt8(ascii: "{") {
                depth += 1
            } else if byte == UInt8(ascii: "}") {
                depth -= 1
                if depth == 0 { return bytes[begin...i] }
            }
            i += 1
        }
        return nil
    }
}
