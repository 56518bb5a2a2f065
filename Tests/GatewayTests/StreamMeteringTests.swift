import Foundation
@testable import Gateway
import NIOCore
import Testing

/// What ``UsageStreamFilter`` and ``ContentPieces`` read from a stream as it passes: the pieces of
/// text relayed (what a stream cut before its usage is counted by), the last usage reported, and
/// vLLM's continuous usage taken out of the chunks of a client that did not ask for it.
@Suite struct StreamMeteringTests {
    /// The output, the pieces counted and the last usage of `pieces` passed in turn, then finished.
    static func run(_ pieces: [[UInt8]], removesUsageChunk: Bool = false, removesChunkUsage: Bool = false)
        -> (out: String, pieces: Int, usage: TokenUsage?)
    {
        var filter = UsageStreamFilter(removesUsageChunk: removesUsageChunk, removesChunkUsage: removesChunkUsage)
        var out = ""
        for piece in pieces { out += String(buffer: filter.pass(ByteBuffer(bytes: piece))) }
        out += String(buffer: filter.finish())
        return (out, filter.contentPieces, filter.usage)
    }

    static func event(_ json: String, type: String? = nil) -> String {
        (type.map { "event: \($0)\n" } ?? "") + "data: \(json)\n\n"
    }

    // MARK: Pieces of text, per API

    struct Counted: Sendable, CustomTestStringConvertible {
        let label: String
        let event: String
        let pieces: Int
        var testDescription: String { label }
    }

    static let counted: [Counted] = [
        Counted(
            label: "chat: the role-only first chunk",
            event: event(#"{"id":"c","object":"chat.completion.chunk","choices":[{"index":0,"delta":{"role":"assistant","content":""},"logprobs":null,"finish_reason":null}]}"#),
            pieces: 0
        ),
        Counted(
            label: "chat: a piece of content",
            event: event(#"{"id":"c","object":"chat.completion.chunk","choices":[{"index":0,"delta":{"content":"Hel"},"logprobs":null,"finish_reason":null}]}"#),
            pieces: 1
        ),
        Counted(
            label: "chat: content with escapes and a space after the colon",
            event: event(#"{"id": "c", "choices": [{"index": 0, "delta": {"content": "\"text\": \n"}}]}"#),
            pieces: 1
        ),
        Counted(
            label: "chat: reasoning and refusal",
            event: event(#"{"id":"c","choices":[{"index":0,"delta":{"reasoning_content":"hmm"}},{"index":1,"delta":{"refusal":"no"}}]}"#),
            pieces: 2
        ),
        Counted(
            label: "chat: the last chunk, null content and a finish reason",
            event: event(#"{"id":"c","choices":[{"index":0,"delta":{"content":null},"finish_reason":"stop"}]}"#),
            pieces: 0
        ),
        Counted(
            label: "chat: logprobs name no text",
            event: event(#"{"id":"c","choices":[{"index":0,"delta":{},"logprobs":{"content":[{"token":"a","logprob":-0.1}]}}]}"#),
            pieces: 0
        ),
        Counted(
            label: "chat: a tool call's first chunk, empty arguments",
            event: event(#"{"id":"c","choices":[{"index":0,"delta":{"tool_calls":[{"index":0,"id":"call_1","type":"function","function":{"name":"get_weather","arguments":""}}]}}]}"#),
            pieces: 0
        ),
        Counted(
            label: "chat: a piece of a tool call's arguments",
            event: event(#"{"id":"c","choices":[{"index":0,"delta":{"tool_calls":[{"index":0,"function":{"arguments":"{\"location\": \""}}]}}]}"#),
            pieces: 1
        ),
        Counted(
            label: "completions: a piece of text",
            event: event(#"{"id":"cmpl","object":"text_completion","choices":[{"index":0,"text":" world","logprobs":null,"finish_reason":null}]}"#),
            pieces: 1
        ),
        Counted(
            label: "completions: the empty last text",
            event: event(#"{"id":"cmpl","object":"text_completion","choices":[{"index":0,"text":"","finish_reason":"length"}]}"#),
            pieces: 0
        ),
        Counted(
            label: "responses: output_text.delta",
            event: event(
                #"{"type":"response.output_text.delta","item_id":"msg_1","output_index":0,"content_index":0,"delta":"Hel","sequence_number":4}"#,
                type: "response.output_text.delta"
            ),
            pieces: 1
        ),
        Counted(
            label: "responses: created, no text and a null usage",
            event: event(
                #"{"type":"response.created","response":{"id":"r","status":"in_progress","output":[],"usage":null},"sequence_number":0}"#,
                type: "response.created"
            ),
            pieces: 0
        ),
        Counted(
            label: "responses: an empty content part",
            event: event(
                #"{"type":"response.content_part.added","part":{"type":"output_text","text":"","annotations":[]},"sequence_number":3}"#,
                type: "response.content_part.added"
            ),
            pieces: 0
        ),
        Counted(label: "the end of the stream", event: "data: [DONE]\n\n", pieces: 0),
    ]

    @Test(arguments: counted)
    func piecesOfTextAreCounted(_ example: Counted) {
        #expect(ContentPieces.count(in: ByteBuffer(string: example.event)) == example.pieces)
        let (out, pieces, _) = Self.run([Array(example.event.utf8)])
        #expect(out == example.event)
        #expect(pieces == example.pieces)
    }

    // MARK: However the stream is cut

    struct Stream: Sendable, CustomTestStringConvertible {
        let label: String
        let text: String
        var removesUsageChunk = false
        var removesChunkUsage = false
        /// What the client gets.
        let out: String
        let pieces: Int
        let usage: TokenUsage?
        var testDescription: String { label }
    }

    static let chatChunks = [
        #"{"id":"c","object":"chat.completion.chunk","choices":[{"index":0,"delta":{"role":"assistant","content":""}}]}"#,
        #"{"id":"c","object":"chat.completion.chunk","choices":[{"index":0,"delta":{"content":"Hel"}}]}"#,
        #"{"id":"c","object":"chat.completion.chunk","choices":[{"index":0,"delta":{"content":"lo"}}]}"#,
        #"{"id":"c","object":"chat.completion.chunk","choices":[{"index":0,"delta":{},"finish_reason":"stop"}]}"#,
    ].map { event($0) }
    static let chatUsage = event(
        #"{"id":"c","object":"chat.completion.chunk","choices":[],"usage":{"prompt_tokens":12,"completion_tokens":2,"total_tokens":14}}"#
    )
    static let done = "data: [DONE]\n\n"

    static func continuous(_ content: String, completion: Int) -> String {
        event(
            #"{"id":"c","choices":[{"index":0,"delta":{"content":"\#(content)"}}],"#
                + #""usage":{"prompt_tokens":9,"total_tokens":\#(9 + completion),"completion_tokens":\#(completion)}}"#
        )
    }

    static let streams: [Stream] = [
        Stream(
            label: "chat, the usage chunk removed", text: (chatChunks + [chatUsage, done]).joined(),
            removesUsageChunk: true, out: (chatChunks + [done]).joined(), pieces: 2,
            usage: TokenUsage(prompt: 12, completion: 2)
        ),
        Stream(
            label: "chat with CRLF line ends", text: crlfChat, out: crlfChat, pieces: 2,
            usage: TokenUsage(prompt: 12, completion: 2)
        ),
        Stream(
            label: "chat cut before its usage, the last event unterminated",
            text: chatChunks[0] + chatChunks[1] + String(chatChunks[2].dropLast(2)),
            out: chatChunks[0] + chatChunks[1] + String(chatChunks[2].dropLast(2)), pieces: 2, usage: nil
        ),
        Stream(
            label: "completions, the usage chunk removed", text: (completionChunks + [completionUsage, done]).joined(),
            removesUsageChunk: true, out: (completionChunks + [done]).joined(), pieces: 2,
            usage: TokenUsage(prompt: 4, completion: 2)
        ),
        Stream(
            label: "responses",
            text: responsesStream, out: responsesStream, pieces: 3, usage: TokenUsage(prompt: 5, completion: 3)
        ),
        Stream(label: "tool call", text: toolCallStream, out: toolCallStream, pieces: 2, usage: nil),
        Stream(
            label: "vLLM continuous usage, removed",
            text: continuousStream, removesUsageChunk: true, removesChunkUsage: true,
            out: [
                event(#"{"id":"c","choices":[{"index":0,"delta":{"content":""}}]}"#),
                event(#"{"id":"c","choices":[{"index":0,"delta":{"content":"a"}}]}"#),
                event(#"{"id":"c","choices":[{"index":0,"delta":{"content":"b"}}]}"#),
                done,
            ].joined(),
            pieces: 2, usage: TokenUsage(prompt: 9, completion: 2)
        ),
    ]

    static var crlfChat: String {
        (chatChunks + [chatUsage, done]).joined().replacingOccurrences(of: "\n", with: "\r\n")
    }

    static let completionChunks = [
        #"{"id":"x","object":"text_completion","choices":[{"index":0,"text":"A"}]}"#,
        #"{"id":"x","object":"text_completion","choices":[{"index":0,"text":"B"}]}"#,
        #"{"id":"x","object":"text_completion","choices":[{"index":0,"text":"","finish_reason":"length"}]}"#,
    ].map { event($0) }
    static let completionUsage = event(
        #"{"id":"x","object":"text_completion","choices":[],"usage":{"prompt_tokens":4,"completion_tokens":2,"total_tokens":6}}"#
    )

    static var toolCallStream: String {
        [
            #"{"id":"c","choices":[{"index":0,"delta":{"tool_calls":[{"index":0,"id":"call_1","type":"function","#
                + #""function":{"name":"f","arguments":""}}]}}]}"#,
            #"{"id":"c","choices":[{"index":0,"delta":{"tool_calls":[{"index":0,"function":{"arguments":"{\"a\""}}]}}]}"#,
            #"{"id":"c","choices":[{"index":0,"delta":{"tool_calls":[{"index":0,"function":{"arguments":": 1}"}}]}}]}"#,
        ].map { event($0) }.joined() + done
    }

    /// vLLM's chunks with `continuous_usage_stats`, the role-only first one included.
    static var continuousStream: String {
        [continuous("", completion: 0), continuous("a", completion: 1), continuous("b", completion: 2), done].joined()
    }

    static func delta(_ text: String, sequence: Int) -> String {
        event(
            #"{"type":"response.output_text.delta","delta":"\#(text)","sequence_number":\#(sequence)}"#,
            type: "response.output_text.delta"
        )
    }

    static var responsesStream: String {
        [
            event(
                #"{"type":"response.created","response":{"id":"r","output":[],"usage":null},"sequence_number":0}"#,
                type: "response.created"
            ),
            delta("a", sequence: 1),
            delta("b", sequence: 2),
            delta("c", sequence: 3),
            event(
                #"{"type":"response.completed","response":{"id":"r","output":[],"usage":{"input_tokens":5,"output_tokens":3,"total_tokens":8}},"sequence_number":4}"#,
                type: "response.completed"
            ),
        ].joined()
    }

    @Test(arguments: streams)
    func theCountIsTheSameWhereverTheStreamIsCut(_ stream: Stream) {
        let bytes = Array(stream.text.utf8)
        func run(_ pieces: [[UInt8]]) -> (out: String, pieces: Int, usage: TokenUsage?) {
            Self.run(pieces, removesUsageChunk: stream.removesUsageChunk, removesChunkUsage: stream.removesChunkUsage)
        }
        let whole = run([bytes])
        #expect(whole.out == stream.out)
        #expect(whole.pieces == stream.pieces)
        #expect(whole.usage == stream.usage)
        for cut in 0...bytes.count {
            let split = run([Array(bytes[..<cut]), Array(bytes[cut...])])
            #expect(split.out == stream.out, "cut at \(cut)")
            #expect(split.pieces == stream.pieces, "cut at \(cut)")
            #expect(split.usage == stream.usage, "cut at \(cut)")
        }
        let byteByByte = run(bytes.map { [$0] })
        #expect(byteByByte.out == stream.out)
        #expect(byteByByte.pieces == stream.pieces)
        #expect(byteByByte.usage == stream.usage)
    }

    /// Three pieces with a short middle one: where an event's end (two or three bytes) falls
    /// across pieces, which the filter's resumed search must not miss.
    @Test func aShortMiddlePieceAnywhereCountsTheSame() {
        let text = Self.event(#"{"choices":[{"delta":{"content":"a"}}]}"#)
            + Self.event(#"{"choices":[{"delta":{"content":"b"}}],"usage":{"prompt_tokens":9,"completion_tokens":2}}"#)
        let bytes = Array(text.utf8)
        let expected = Self.run([bytes], removesChunkUsage: true)
        let out = Self.event(#"{"choices":[{"delta":{"content":"a"}}]}"#)
            + Self.event(#"{"choices":[{"delta":{"content":"b"}}]}"#)
        #expect(expected.out == out)
        #expect(expected.pieces == 2)
        #expect(expected.usage == TokenUsage(prompt: 9, completion: 2))
        var mismatches = 0
        for first in 0...bytes.count {
            for second in first...min(first + 4, bytes.count) {
                let pieces = [Array(bytes[..<first]), Array(bytes[first..<second]), Array(bytes[second...])]
                let split = Self.run(pieces, removesChunkUsage: true)
                if split.out != expected.out || split.pieces != expected.pieces || split.usage != expected.usage {
                    mismatches += 1
                    if mismatches <= 3 { Issue.record("cuts at \(first) and \(second) give \(split)") }
                }
            }
        }
        #expect(mismatches == 0)
    }

    // MARK: Continuous usage

    enum Layout: String, CaseIterable, Sendable {
        /// `{"a":1,"b":2}`, as vLLM (pydantic) writes it.
        case compact
        /// `{"a": 1, "b": 2}`, as Python's json module writes it.
        case spaced

        func member(_ name: String, _ value: String) -> String {
            self == .compact ? "\"\(name)\":\(value)" : "\"\(name)\": \(value)"
        }
        func object(_ members: [String]) -> String {
            "{" + members.joined(separator: self == .compact ? "," : ", ") + "}"
        }
    }

    static func chunkMembers(_ layout: Layout) -> [String] {
        [
            layout.member("id", #""chatcmpl-1""#),
            layout.member("object", #""chat.completion.chunk""#),
            layout.member("choices", #"[{"index":0,"delta":{"content":"tok"},"finish_reason":null}]"#),
        ]
    }

    static func usageMember(_ layout: Layout, completion: Int = 3) -> String {
        layout.member(
            "usage", #"{"prompt_tokens":11,"total_tokens":\#(11 + completion),"completion_tokens":\#(completion)}"#
        )
    }

    static func object(_ json: String) throws -> NSDictionary {
        let object = try JSONSerialization.jsonObject(with: Data(json.utf8))
        return try #require(object as? NSDictionary, "not a JSON object: \(json)")
    }

    /// The JSON of the one event's data line.
    static func dataJSON(_ event: String) throws -> String {
        let line = try #require(
            event.split(separator: "\n").first { $0.hasPrefix("data:") }, "no data line in \(event)"
        )
        var json = line.dropFirst("data:".count)
        if json.first == " " { json = json.dropFirst() }
        if json.last == "\r" { json = json.dropLast() }
        return String(json)
    }

    @Test(arguments: Layout.allCases, 0...3)
    func eachChunksUsageIsRemovedWhereverItStands(layout: Layout, position: Int) throws {
        var members = Self.chunkMembers(layout)
        let others = members
        let usage = Self.usageMember(layout)
        members.insert(usage, at: position)
        let original = layout.object(members)
        let (out, pieces, reported) = Self.run([Array(Self.event(original).utf8)], removesChunkUsage: true)
        #expect(pieces == 1)
        #expect(reported == TokenUsage(prompt: 11, completion: 3))
        let edited = try Self.dataJSON(out)
        #expect(out == Self.event(edited), "nothing but the data line's JSON changes")

        // Valid JSON, the same members and values but for `usage`.
        let expected = try Self.object(original).mutableCopy() as! NSMutableDictionary
        expected.removeObject(forKey: "usage")
        #expect(try Self.object(edited) == expected)

        // Byte for byte the original with one stretch taken out: the member and one comma joining it.
        if layout == .compact { #expect(edited == layout.object(others)) }
        let removed = Self.removedStretches(from: original, leaving: edited)
        let memberAndComma = removed.contains { stretch in
            var rest = Substring(stretch).trimmingCharacters(in: .whitespaces)[...]
            if rest.hasPrefix(",") { rest = rest.dropFirst() } else if rest.hasSuffix(",") { rest = rest.dropLast() }
            return rest.trimmingCharacters(in: .whitespaces) == usage
        }
        #expect(memberAndComma, "removed: \(removed)")
    }

    /// Each stretch of `original` that, taken out, leaves `edited`.
    static func removedStretches(from original: String, leaving edited: String) -> [String] {
        let original = Array(original.utf8)
        let edited = Array(edited.utf8)
        let length = original.count - edited.count
        guard length > 0 else { return [] }
        return (0...edited.count).compactMap { start in
            guard original[..<start] == edited[..<start], original[(start + length)...] == edited[start...] else {
                return nil
            }
            return String(decoding: original[start..<(start + length)], as: UTF8.self)
        }
    }

    @Test func aChunkWithUsageAsItsOnlyOtherMemberKeepsValidJSON() throws {
        let original = #"{"usage":{"prompt_tokens":1,"completion_tokens":1},"choices":[{"delta":{"content":"x"}}]}"#
        let (out, _, usage) = Self.run([Array(Self.event(original).utf8)], removesChunkUsage: true)
        #expect(try Self.dataJSON(out) == #"{"choices":[{"delta":{"content":"x"}}]}"#)
        #expect(usage == TokenUsage(prompt: 1, completion: 1))
    }

    @Test func theRestOfTheEventIsKeptAroundTheEditedDataLine() throws {
        let json = Layout.compact.object(Self.chunkMembers(.compact) + [Self.usageMember(.compact)])
        let expected = Layout.compact.object(Self.chunkMembers(.compact))
        let cases = [
            ("id: 4\r\ndata: \(json)\r\n\r\n", "id: 4\r\ndata: \(expected)\r\n\r\n"),
            ("event: chunk\ndata:\(json)\n\n", "event: chunk\ndata:\(expected)\n\n"),
        ]
        for (event, edited) in cases {
            let (out, pieces, usage) = Self.run([Array(event.utf8)], removesChunkUsage: true)
            #expect(out == edited)
            #expect(pieces == 1)
            #expect(usage == TokenUsage(prompt: 11, completion: 3))
        }
    }

    @Test func theLastUsageSeenIsTheFiltersUsage() {
        var filter = UsageStreamFilter(removesUsageChunk: true, removesChunkUsage: true)
        #expect(filter.usage == nil)
        for completion in 0...4 {
            _ = filter.pass(ByteBuffer(string: Self.continuous("t", completion: completion)))
            #expect(filter.usage == TokenUsage(prompt: 9, completion: completion))
        }
        // A chunk without usage leaves the last one standing.
        _ = filter.pass(ByteBuffer(string: Self.chatChunks[1]))
        #expect(filter.usage == TokenUsage(prompt: 9, completion: 4))
        // The final usage-only chunk is the last word, and is not passed on.
        let final = Self.event(#"{"id":"c","choices":[],"usage":{"prompt_tokens":9,"completion_tokens":5,"total_tokens":14}}"#)
        #expect(filter.pass(ByteBuffer(string: final)).readableBytes == 0)
        #expect(filter.usage == TokenUsage(prompt: 9, completion: 5))
        #expect(filter.contentPieces == 6)
    }

    @Test func chunksAreUntouchedWhenTheClientAskedForContinuousUsage() {
        let text = Self.continuousStream
        for removesUsageChunk in [false, true] {
            let (out, pieces, usage) = Self.run([Array(text.utf8)], removesUsageChunk: removesUsageChunk)
            #expect(out == text)
            #expect(pieces == 2)
            #expect(usage == TokenUsage(prompt: 9, completion: 2))
        }
    }

    @Test func theFinalUsageChunkTheClientAskedForIsKeptWhileChunkUsageIsRemoved() {
        let final = Self.event(#"{"id":"c","choices":[],"usage":{"prompt_tokens":9,"completion_tokens":1,"total_tokens":10}}"#)
        let text = Self.continuous("a", completion: 1) + final
        let (out, _, usage) = Self.run([Array(text.utf8)], removesUsageChunk: false, removesChunkUsage: true)
        #expect(out == Self.event(#"{"id":"c","choices":[{"index":0,"delta":{"content":"a"}}]}"#) + final)
        #expect(usage == TokenUsage(prompt: 9, completion: 1))
    }
}
