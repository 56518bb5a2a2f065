import NIOCore

/// Counts the pieces of generated text in streamed events: each non-empty string value of a member
/// that carries generated text (`content`, `reasoning_content`, `refusal` and tool-call `arguments`
/// in chat deltas, `text` in completions, `delta` in the Responses API's text events).
///
/// This is how a stream cut before its worker reported usage is counted. Engines stream one token
/// per event (vLLM, llama.cpp's server and the simulator do), so the count is the completion tokens
/// relayed, give or take the few events that repeat the whole text at a Responses stream's end.
/// An empty string (the role-only first chunk) is no piece.
enum ContentPieces {
    private static let names: [[UInt8]] = ["content", "reasoning_content", "refusal", "arguments", "text", "delta"].map {
        Array($0.utf8)
    }

    static func count(in buffer: ByteBuffer) -> Int {
        buffer.withUnsafeReadableBytes { count(in: $0) }
    }

    static func count(in bytes: UnsafeRawBufferPointer) -> Int {
        var pieces = 0
        var index = 0
        let end = bytes.count
        while index < end {
            guard bytes[index] == UInt8(ascii: "\"") else {
                index += 1
                continue
            }
            let nameStart = index + 1
            if let after = matchedName(in: bytes, at: nameStart), isNonEmptyString(in: bytes, after: after) {
                pieces += 1
            }
            index = nameStart
        }
        return pieces
    }

    /// The index after `name":` when one of the names starts at `start`.
    private static func matchedName(in bytes: UnsafeRawBufferPointer, at start: Int) -> Int? {
        for name in names {
            let close = start + name.count
            guard close + 1 < bytes.count, bytes[close] == UInt8(ascii: "\""), bytes[close + 1] == UInt8(ascii: ":")
            else { continue }
            var matches = true
            for offset in 0..<name.count where bytes[start + offset] != name[offset] {
                matches = false
                break
            }
            if matches { return close + 2 }
        }
        return nil
    }

    /// Whether a string with at least one character follows (spaces allowed before it).
    private static func isNonEmptyString(in bytes: UnsafeRawBufferPointer, after index: Int) -> Bool {
        var i = index
        while i < bytes.count, bytes[i] == 0x20 || bytes[i] == 0x09 { i += 1 }
        return i + 1 < bytes.count && bytes[i] == UInt8(ascii: "\"") && bytes[i + 1] != UInt8(ascii: "\"")
    }
}
