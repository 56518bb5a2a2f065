import Foundation
import NIOCore

/// Reads the token usage out of a streamed (server-sent events) response as it passes, and
/// removes the usage-only chunk the gateway asked for on a client's behalf.
///
/// The gateway sets `stream_options.include_usage` on every streamed request so every request's
/// tokens are known; a client that did not ask for it must not see the extra chunk (the SDKs
/// would hand it an event with no choices). Events are forwarded as soon as they are complete:
/// what one upstream read brings goes out in one write, never held for a later one.
package struct UsageStreamFilter {
    /// Whether to drop the final chunk that carries only usage.
    package let removesUsageChunk: Bool
    package private(set) var usage: TokenUsage?
    /// The start of an event whose end has not arrived yet.
    private var pending = ByteBuffer()
    /// How much of `pending` is known to hold no event end: the next search starts near its end, so
    /// an event that arrives in many pieces is searched once, not once per piece.
    private var searched = 0

    package init(removesUsageChunk: Bool) {
        self.removesUsageChunk = removesUsageChunk
    }

    /// The bytes of `chunk` to send on now.
    package mutating func pass(_ chunk: ByteBuffer) -> ByteBuffer {
        // The common case, whole events and no usage among them, goes out untouched.
        if pending.readableBytes == 0, !chunk.readableBytesView.containsUsage, chunk.readableBytesView.endsEvent {
            return chunk
        }
        var input = chunk
        pending.writeBuffer(&input)
        var out = ByteBuffer()
        while let length = pending.readableBytesView.eventLength(searchingFrom: searched) {
            let event = pending.readSlice(length: length)!
            searched = 0
            if keep(event) { out.writeImmutableBuffer(event) }
        }
        pending.discardReadBytes()
        // An event end is at most three bytes ("\n\r\n"): its start may be among the last two searched.
        searched = max(0, pending.readableBytes - 2)
        return out
    }

    /// What is left when the stream ends without a final blank line.
    package mutating func finish() -> ByteBuffer {
        defer {
            pending.clear()
            searched = 0
        }
        if pending.readableBytes > 0, keep(pending) { return pending }
        return ByteBuffer()
    }

    private mutating func keep(_ event: ByteBuffer) -> Bool {
        let view = event.readableBytesView
        guard view.containsUsage, let data = view.dataField else { return true }
        guard let object = try? JSONSerialization.jsonObject(with: Data(data)) as? [String: Any] else { return true }
        if let usage = object["usage"] as? [String: Any], let counted = TokenUsage(usageObject: usage) {
            self.usage = counted
            // The chunk include_usage adds has no choices; a chunk that also carries text stays.
            let choices = object["choices"] as? [Any]
            return !(removesUsageChunk && (choices?.isEmpty ?? true))
        }
        if let response = object["response"] as? [String: Any], let usage = response["usage"] as? [String: Any] {
            self.usage = TokenUsage(usageObject: usage)
        }
        return true
    }
}

extension ByteBufferView {
    private static let usageKey = Array("\"usage\"".utf8)

    /// Whether `"usage"` occurs: a cheap test before any JSON is parsed.
    fileprivate var containsUsage: Bool {
        guard count >= Self.usageKey.count else { return false }
        var index = startIndex
        let last = endIndex - Self.usageKey.count
        while index <= last {
            if self[index] == UInt8(ascii: "\""), self[index..<(index + Self.usageKey.count)].elementsEqual(Self.usageKey) {
                return true
            }
            index += 1
        }
        return false
    }

    /// Whether the bytes end at an event boundary (a blank line).
    fileprivate var endsEvent: Bool {
        count >= 2 && self[endIndex - 1] == UInt8(ascii: "\n")
            && (self[endIndex - 2] == UInt8(ascii: "\n")
                || (count >= 3 && self[endIndex - 2] == UInt8(ascii: "\r") && self[endIndex - 3] == UInt8(ascii: "\n")))
    }

    /// The length of the first complete event, up to and including its blank line; the search
    /// starts `offset` bytes in (the caller knows no event ends before).
    fileprivate func eventLength(searchingFrom offset: Int) -> Int? {
        var index = startIndex + Swift.min(offset, count)
        while index < endIndex {
            if self[index] == UInt8(ascii: "\n") {
                let next = index + 1
                if next < endIndex, self[next] == UInt8(ascii: "\n") { return next + 1 - startIndex }
                if next + 1 < endIndex, self[next] == UInt8(ascii: "\r"), self[next + 1] == UInt8(ascii: "\n") {
                    return next + 2 - startIndex
                }
            }
            index += 1
        }
        return nil
    }

    /// The value of the event's `data:` line (one line: the JSON APIs never split theirs).
    fileprivate var dataField: ByteBufferView.SubSequence? {
        let prefix = Array("data:".utf8)
        var lineStart = startIndex
        while lineStart < endIndex {
            let lineEnd = self[lineStart...].firstIndex(of: UInt8(ascii: "\n")) ?? endIndex
            var line = self[lineStart..<lineEnd]
            if line.last == UInt8(ascii: "\r") { line = line.dropLast() }
            if line.starts(with: prefix) {
                let value = line.dropFirst(prefix.count)
                return value.first == UInt8(ascii: " ") ? value.dropFirst() : value
            }
            lineStart = lineEnd + 1
        }
        return nil
    }
}
