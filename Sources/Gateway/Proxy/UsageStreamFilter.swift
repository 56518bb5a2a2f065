import Foundation
import NIOCore

/// Reads the token usage out of a streamed (server-sent events) response as it passes, counts the
/// pieces of generated text it relays, and removes what the gateway asked for on a client's behalf.
///
/// The gateway sets `stream_options.include_usage` on every streamed request so every request's
/// tokens are known; a client that did not ask for it must not see the extra chunk (the SDKs
/// would hand it an event with no choices). On vLLM it also sets `continuous_usage_stats`, so
/// every chunk carries the usage so far and a stream cut short still has its worker's count; a
/// client that did not ask for that gets its chunks without the `usage` member. On llama.cpp it
/// sets `timings_per_token` for the same reason, and removes the `timings` member the same way.
///
/// Events are forwarded as soon as they are complete: what one upstream read brings goes out in
/// one write, never held for a later one. The one exception is the closing `data: [DONE]`, which
/// is held and handed back by ``finish()``: it goes out with the answer's end, after the receipt
/// is written, so a client that has seen its stream end whole holds a receipt id that is in the log.
package struct UsageStreamFilter {
    /// Whether to drop the final chunk that carries only usage.
    package let removesUsageChunk: Bool
    /// Whether to remove the `usage` member of chunks that carry choices (vLLM's continuous usage).
    package let removesChunkUsage: Bool
    /// Whether to remove the `timings` member of chunks that carry choices (llama.cpp's timings per token).
    package let removesChunkTimings: Bool
    /// The last usage the worker reported: the final count, or with continuous usage or timings the
    /// count so far.
    package private(set) var usage: TokenUsage?
    /// Pieces of generated text relayed to the client (``ContentPieces``): what a stream cut before
    /// its usage arrived is counted by.
    package private(set) var contentPieces = 0
    /// The start of an event whose end has not arrived yet.
    private var pending = ByteBuffer()
    /// The stream's closing `[DONE]` event, held for ``finish()``.
    private var held = ByteBuffer()
    private static let done = Array("[DONE]".utf8)
    /// How much of `pending` is known to hold no event end: the next search starts near its end, so
    /// an event that arrives in many pieces is searched once, not once per piece.
    private var searched = 0

    package init(removesUsageChunk: Bool, removesChunkUsage: Bool = false, removesChunkTimings: Bool = false) {
        self.removesUsageChunk = removesUsageChunk
        self.removesChunkUsage = removesChunkUsage
        self.removesChunkTimings = removesChunkTimings
    }

    init(_ options: StreamFilterOptions) {
        self.init(
            removesUsageChunk: options.removesUsageChunk, removesChunkUsage: options.removesChunkUsage,
            removesChunkTimings: options.removesChunkTimings
        )
    }

    /// The bytes of `chunk` to send on now.
    package mutating func pass(_ chunk: ByteBuffer) -> ByteBuffer {
        // The common case, whole events and no counts or end among them, goes out untouched.
        if pending.readableBytes == 0, !chunk.readableBytesView.needsReading, chunk.readableBytesView.endsEvent {
            contentPieces += ContentPieces.count(in: chunk)
            return chunk
        }
        var input = chunk
        pending.writeBuffer(&input)
        var out = ByteBuffer()
        while let length = pending.readableBytesView.eventLength(searchingFrom: searched) {
            let event = pending.readSlice(length: length)!
            searched = 0
            if let kept = filtered(event) { out.writeImmutableBuffer(kept) }
        }
        pending.discardReadBytes()
        // An event end is at most three bytes ("\n\r\n"): its start may be among the last two searched.
        searched = max(0, pending.readableBytes - 2)
        return out
    }

    /// What is left when the stream ends: the held `[DONE]`, and an event that had no final blank line.
    package mutating func finish() -> ByteBuffer {
        var rest = held
        held.clear()
        if pending.readableBytes > 0, let kept = filtered(pending) { rest.writeImmutableBuffer(kept) }
        rest.writeImmutableBuffer(held)  // a [DONE] that had no blank line after it
        held.clear()
        pending.clear()
        searched = 0
        return rest
    }

    /// The event as the client gets it, or nil when it is dropped.
    private mutating func filtered(_ event: ByteBuffer) -> ByteBuffer? {
        let view = event.readableBytesView
        guard view.needsReading, let data = view.dataField else {
            contentPieces += ContentPieces.count(in: event)
            return event
        }
        if data.elementsEqual(Self.done) {
            held.writeImmutableBuffer(event)
            return nil
        }
        let bytes = Array(view)
        let dataStart = data.startIndex - view.startIndex
        let dataEnd = data.endIndex - view.startIndex
        let json = Array(bytes[dataStart..<dataEnd])
        guard let usageChunk = UsageChunk(json) else {
            contentPieces += ContentPieces.count(in: event)
            return event
        }
        // A chunk with both (llama.cpp's last) has the final count in `usage`: its `timings` count
        // as prompt_n only the prompt tokens not taken from the cache.
        if let reported = usageChunk.usage ?? usageChunk.timingsUsage { usage = reported }
        if usageChunk.hasChoices {
            contentPieces += ContentPieces.count(in: event)
            var removed: [UsageChunk.Member] = []
            if removesChunkUsage, let member = usageChunk.usageMember { removed.append(member) }
            if removesChunkTimings, let member = usageChunk.timingsMember { removed.append(member) }
            guard !removed.isEmpty else { return event }
            // From the last to the first, so each removal leaves the others' ranges where they were.
            let edited = removed.sorted { $0.name.lowerBound > $1.name.lowerBound }
                .reduce(json) { text, member in UsageChunk.removing(member, from: text) }
            return ByteBuffer(bytes: Array(bytes[..<dataStart]) + edited + Array(bytes[dataEnd...]))
        }
        // The chunk include_usage adds has no choices.
        return removesUsageChunk && usageChunk.isUsageOnly ? nil : event
    }
}

/// The parts of one event's JSON that carry usage: a top-level `usage` object (Chat Completions and
/// Completions, final or continuous), the Responses API's inside `response`, or llama.cpp's
/// top-level `timings`.
private struct UsageChunk {
    /// Where a top-level member's name (without its quotes) and value lie in the JSON.
    typealias Member = (name: Range<Int>, value: Range<Int>)

    var usageMember: Member?
    var usage: TokenUsage?
    var timingsMember: Member?
    /// The counts so far in `timings`.
    var timingsUsage: TokenUsage?
    /// Whether `choices` holds at least one element.
    var hasChoices = false
    /// Whether the chunk is the one `include_usage` adds: a top-level usage and no choices.
    var isUsageOnly: Bool { usageMember != nil && !hasChoices }

    init?(_ json: [UInt8]) {
        let scan = json.withUnsafeBytes { JSONObjectScan($0) }
        guard let scan else { return nil }
        func named(_ member: JSONObjectScan.Member, _ name: String) -> Bool { json[member.name].elementsEqual(name.utf8) }
        for member in scan.members {
            if named(member, "usage"), member.kind == .object {
                usageMember = (member.name, member.value)
                usage = TokenUsage(usageObjectText: json[member.value])
            } else if named(member, "timings"), member.kind == .object {
                timingsMember = (member.name, member.value)
                timingsUsage = TokenUsage(timingsObjectText: json[member.value])
            } else if named(member, "choices"), member.kind == .array {
                hasChoices = json[member.value].contains { ![UInt8(ascii: "["), UInt8(ascii: "]"), 0x20, 0x09, 0x0A, 0x0D].contains($0) }
            } else if named(member, "response"), member.kind == .object, usage == nil {
                // The Responses API's `response.completed`: once per stream, decoded in full.
                if let response = try? JSONSerialization.jsonObject(with: Data(json[member.value])) as? [String: Any],
                   let nested = response["usage"] as? [String: Any]
                {
                    usage = TokenUsage(usageObject: nested)
                }
            }
        }
        guard usageMember != nil || usage != nil || timingsMember != nil else { return nil }
    }

    /// `json` without the member, and without the comma that joined it to a neighbour.
    static func removing(_ member: Member, from json: [UInt8]) -> [UInt8] {
        func isSpace(_ byte: UInt8) -> Bool { [0x20, 0x09, 0x0A, 0x0D].contains(byte) }
        var start = member.name.lowerBound - 1  // the name's opening quote
        var end = member.value.upperBound
        var after = end
        while after < json.count, isSpace(json[after]) { after += 1 }
        if after < json.count, json[after] == UInt8(ascii: ",") {
            end = after + 1
        } else {
            var before = start - 1
            while before >= 0, isSpace(json[before]) { before -= 1 }
            if before >= 0, json[before] == UInt8(ascii: ",") { start = before }
        }
        return Array(json[..<start]) + Array(json[end...])
    }
}

extension ByteBufferView {
    private static let keys = [Array("\"usage\"".utf8), Array("\"timings\"".utf8), Array("[DONE]".utf8)]

    /// Whether `"usage"`, `"timings"` or `[DONE]` occurs: a cheap test before any JSON is parsed.
    fileprivate var needsReading: Bool {
        var index = startIndex
        while index < endIndex {
            if self[index] == UInt8(ascii: "\"") || self[index] == UInt8(ascii: "[") {
                for key in Self.keys where endIndex - index >= key.count {
                    if self[index..<(index + key.count)].elementsEqual(key) { return true }
                }
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
