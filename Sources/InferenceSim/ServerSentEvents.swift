import NIOCore

/// The framing of OpenAI streams: each event is one `data:` line and a blank line.
enum ServerSentEvents {
    /// `data: <json>\n\n`.
    static func event(_ json: ByteBuffer) -> ByteBuffer {
        var json = json
        var event = ByteBuffer()
        event.reserveCapacity(json.readableBytes + 8)
        event.writeString("data: ")
        event.writeBuffer(&json)
        event.writeString("\n\n")
        return event
    }

    /// The sentinel that ends every OpenAI stream.
    static let done = ByteBuffer(string: "data: [DONE]\n\n")
}
