import Foundation
import NIOCore

/// The `priority` field of a request body, which the gateway owns: it carries the tier's
/// priority to workers that schedule by it (vLLM serves lower values first) and is never taken
/// from the client, who could otherwise jump the queue its tier puts it in.
enum PriorityField {
    /// `body` (a JSON object) with its top-level `priority` set to `priority`, or removed when nil.
    ///
    /// The usual case, a body without the field, is edited as text: `"priority":N` goes in after
    /// the opening brace and every other byte stays as the client sent it. Only a body that
    /// carries the field itself is decoded and encoded again.
    static func setting(_ priority: Int?, in body: ByteBuffer) -> ByteBuffer {
        let bytes = Array(body.readableBytesView)
        guard let object = try? JSONSerialization.jsonObject(with: Data(bytes)) as? [String: Any] else { return body }
        if object["priority"] != nil {
            var edited = object
            edited["priority"] = priority
            guard let data = try? JSONSerialization.data(withJSONObject: edited, options: [.withoutEscapingSlashes])
            else { return body }
            return ByteBuffer(bytes: data)
        }
        guard let priority, let brace = bytes.firstIndex(of: UInt8(ascii: "{")) else { return body }
        var out = ByteBuffer()
        out.reserveCapacity(bytes.count + 24)
        out.writeBytes(bytes[...brace])
        out.writeString("\"priority\":\(priority)" + (object.isEmpty ? "" : ","))
        out.writeBytes(bytes[(brace + 1)...])
        return out
    }
}
