import Foundation
import NIOCore

/// The request-body fields the gateway owns rather than the client: `priority`, which carries the
/// tier's place in the queue to workers that schedule by it (vLLM serves lower values first), and
/// `cache_salt`, which keeps each tenant's prefix cache on a vLLM worker its own. A client's own
/// values never reach a worker: it could jump its tier's queue, or share another tenant's cache.
enum WorkerFields {
    /// A value the gateway sets, or the field removed.
    enum Value: Equatable {
        case int(Int)
        case string(String)
        case absent
    }

    /// `body` (a JSON object) with each top-level field set or removed as `fields` says.
    ///
    /// The usual case, a body without any of the fields, is edited as text: the new fields go in
    /// after the opening brace and every other byte stays as the client sent it. Only a body that
    /// carries one of them itself is decoded and encoded again.
    static func setting(_ fields: KeyValuePairs<String, Value>, in body: ByteBuffer) -> ByteBuffer {
        let bytes = Array(body.readableBytesView)
        guard let object = try? JSONSerialization.jsonObject(with: Data(bytes)) as? [String: Any] else { return body }
        if fields.contains(where: { object[$0.key] != nil }) {
            var edited = object
            for (name, value) in fields {
                switch value {
                case .int(let number): edited[name] = number
                case .string(let text): edited[name] = text
                case .absent: edited[name] = nil
                }
            }
            guard let data = try? JSONSerialization.data(withJSONObject: edited, options: [.withoutEscapingSlashes])
            else { return body }
            return ByteBuffer(bytes: data)
        }
        let members = fields.compactMap { name, value -> String? in
            switch value {
            case .int(let number): "\"\(name)\":\(number)"
            case .string(let text): "\"\(name)\":\(jsonString(text))"
            case .absent: nil
            }
        }
        guard !members.isEmpty, let brace = bytes.firstIndex(of: UInt8(ascii: "{")) else { return body }
        var out = ByteBuffer()
        out.reserveCapacity(bytes.count + 128)
        out.writeBytes(bytes[...brace])
        out.writeString(members.joined(separator: ",") + (object.isEmpty ? "" : ","))
        out.writeBytes(bytes[(brace + 1)...])
        return out
    }

    private static func jsonString(_ text: String) -> String {
        let data = (try? JSONSerialization.data(withJSONObject: [text], options: [.withoutEscapingSlashes])) ?? Data("[\"\"]".utf8)
        return String(decoding: data.dropFirst().dropLast(), as: UTF8.self)
    }
}
