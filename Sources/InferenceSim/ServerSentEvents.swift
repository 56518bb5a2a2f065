import NIOCore

/// The framing of OpenAI streams: each event is one `data:` line and a blank line, preceded in
/// the Responses API by an `event:` line naming the event's type.
enum ServerSentEvents {
    /// `data: <json>\n\n`, or with a `name`, `event: <name>\ndata: <json>\n\n`.
    static func event(_ json: ByteBuffer, name: String? = nil) -> ByteBuffer {
        var json = json
        var event = ByteBuffer()
        event.reserveCapacity(json.readableBytes + 8 + (name.map { $0.utf8.count + 8 } ?? 0))
        if let name { event.writeString("event: \(name)\n") }
        event.writeString("data: ")
        event.writeBuffer(&json)
        event.writeString("\n\n")
        return event
    }

    /// The sentinel that ends chat and legacy completion streams; a Responses API stream ends with
    /// its `response.completed` event instead.
    static let done = ByteBuffer(string: "data: [DONE]\n\n")
}
