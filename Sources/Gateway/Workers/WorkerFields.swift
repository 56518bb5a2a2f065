import Foundation
import NIOCore

/// The request-body fields the gateway owns rather than the client: `priority`, which carries the
/// tier's place in the queue to workers that schedule by it (vLLM serves lower values first),
/// `cache_salt`, which keeps each tenant's prefix cache on a vLLM worker its own,
/// `stream_options`, set so every stream reports its usage, and `timings_per_token`, set on
/// llama.cpp streams so every chunk carries the counts so far. A client's own `priority` and
/// `cache_salt` never reach a worker: it could jump its tier's queue, or share another tenant's cache.
package enum WorkerFields {
    /// A value the gateway sets, or the field removed.
    package enum Value: Equatable {
        case int(Int)
        case bool(Bool)
        case string(String)
        /// A JSON text (an object, for `stream_options`).
        case json(String)
        case absent
    }

    /// `body` with each top-level field set or removed as `fields` says.
    ///
    /// The usual case, a body without any of the fields (``RequestBody/members`` is nil), is
    /// edited as text: the new fields go in after the opening brace and every other byte stays as
    /// the client sent it. Only a body that carries one of them itself is encoded again.
    package static func setting(_ fields: [(name: String, value: Value)], in body: RequestBody) -> ByteBuffer {
        if let object = body.members, fields.contains(where: { object[$0.name] != nil }) {
            var edited = object
            for (name, value) in fields {
                switch value {
                case .int(let number): edited[name] = number
                case .bool(let flag): edited[name] = flag
                case .string(let text): edited[name] = text
                case .json(let text): edited[name] = try? JSONSerialization.jsonObject(with: Data(text.utf8))
                case .absent: edited[name] = nil
                }
            }
            guard let data = try? JSONSerialization.data(withJSONObject: edited, options: [.withoutEscapingSlashes])
            else { return body.bytes }
            return ByteBuffer(bytes: data)
        }
        let members = fields.compactMap { name, value -> String? in
            switch value {
            case .int(let number): "\"\(name)\":\(number)"
            case .bool(let flag): "\"\(name)\":\(flag)"
            case .string(let text): "\"\(name)\":\(JSONText.string(text))"
            case .json(let text): "\"\(name)\":\(text)"
            case .absent: nil
            }
        }
        let bytes = body.bytes.readableBytesView
        guard !members.isEmpty, let brace = bytes.firstIndex(of: UInt8(ascii: "{")) else { return body.bytes }
        var out = ByteBuffer()
        out.reserveCapacity(bytes.count + 128)
        out.writeBytes(bytes[...brace])
        out.writeString(members.joined(separator: ",") + (body.isEmptyObject ? "" : ","))
        out.writeBytes(bytes[(brace + 1)...])
        return out
    }
}
