import Foundation
import NIOCore

/// One event of a `text/event-stream` answer, with the parts of an OpenAI chunk a test looks at.
package struct ServerSentEvent: Sendable, Equatable {
    /// The event's `data:` lines, joined by newlines.
    package var data: String

    /// `data: [DONE]`, the end of an OpenAI stream.
    package var isDone: Bool { data == "[DONE]" }

    /// The data as a JSON object, when it is one.
    package var json: [String: Any]? {
        (try? JSONSerialization.jsonObject(with: Data(data.utf8))) as? [String: Any]
    }

    /// The generated text a chat chunk carries (`choices[0].delta.content`, or a completion's
    /// `choices[0].text`); nil when it carries none, as the role chunk and the usage chunk do.
    package var content: String? {
        guard let choice = (json?["choices"] as? [[String: Any]])?.first else { return nil }
        let text = (choice["delta"] as? [String: Any])?["content"] as? String ?? choice["text"] as? String
        return text?.isEmpty == false ? text : nil
    }

    /// Whether the event has a `usage` member (a null one counts as none).
    package var hasUsage: Bool { json?["usage"] is [String: Any] }

    /// The usage-only chunk: no choices, a usage.
    package var isUsageChunk: Bool { hasUsage && (json?["choices"] as? [Any])?.isEmpty == true }

    /// `usage.completion_tokens`, when the event has a usage.
    package var completionTokens: Int? { (json?["usage"] as? [String: Any])?["completion_tokens"] as? Int }

    /// `error.code` of an error event (`data: {"error": {…}}`).
    package var errorCode: String? { (json?["error"] as? [String: Any])?["code"] as? String }
}

/// Splits the bytes of an event stream into events as they arrive: an event is complete at its
/// blank line, whatever reads its bytes came in.
struct ServerSentEventReader {
    /// Bytes, not text: a read may end inside a character.
    private var pending: [UInt8] = []

    /// Adds what was read.
    mutating func append(_ buffer: ByteBuffer) {
        pending += buffer.readableBytesView
    }

    /// The next complete event, if one has arrived; comments and empty events are skipped.
    mutating func next() -> ServerSentEvent? {
        while let end = Self.blankLine(in: pending) {
            let block = String(decoding: pending[..<end], as: UTF8.self)
            pending.removeSubrange(..<(end + 2))
            let data = block.split(separator: "\n").filter { $0.hasPrefix("data:") }
                .map { line in line.dropFirst("data:".count).drop { $0 == " " } }
            if !data.isEmpty { return ServerSentEvent(data: data.joined(separator: "\n")) }
        }
        return nil
    }

    /// Bytes that do not make a whole event.
    var leftover: String { String(decoding: pending, as: UTF8.self) }

    private static func blankLine(in bytes: [UInt8]) -> Int? {
        bytes.indices.dropLast().first { bytes[$0] == UInt8(ascii: "\n") && bytes[$0 + 1] == UInt8(ascii: "\n") }
    }
}
