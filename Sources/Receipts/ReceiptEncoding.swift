/// The receipt's fixed binary encoding, version 1 (the log's leaves are these bytes):
///
///     u8  version (1)
///     16  id                     16  session
///     u64 time, µs since the epoch
///     u16 status                 u8  flags (bit 0: usage known; other bits 0)
///     u32 prompt tokens          u32 completion tokens (0 unless usage is known)
///     32  peer public key
///     str tenant, model, model version, tier, backend
///
/// Integers are big-endian; each `str` is a u16 byte count and that many bytes of UTF-8, at most
/// ``ReceiptEncoding/maxTextBytes``. Decoding accepts exactly this and nothing else, so every
/// receipt has one encoding.
public enum ReceiptEncoding {
    public static let maxTextBytes = 1024
    private static let usageKnown: UInt8 = 1

    /// The bytes of `receipt`; a text longer than ``maxTextBytes`` is cut at a character boundary.
    public static func encode(_ receipt: Receipt) -> [UInt8] {
        var out: [UInt8] = []
        out.reserveCapacity(128 + receipt.tenant.utf8.count + receipt.model.utf8.count + receipt.backend.utf8.count)
        out.append(Receipt.version)
        out += receipt.id.bytes
        out += receipt.session.bytes
        append(receipt.timeMicroseconds, to: &out)
        append(receipt.status, to: &out)
        out.append(receipt.usage == nil ? 0 : usageKnown)
        append(receipt.usage?.promptTokens ?? 0, to: &out)
        append(receipt.usage?.completionTokens ?? 0, to: &out)
        precondition(receipt.peer.count == 32, "a peer is a 32-byte WireGuard public key")
        out += receipt.peer
        for text in [receipt.tenant, receipt.model, receipt.modelVersion, receipt.tier, receipt.backend] {
            let bytes = clipped(text)
            append(UInt16(bytes.count), to: &out)
            out += bytes
        }
        return out
    }

    /// Decodes one receipt, or says what is wrong with the bytes.
    public static func decode(_ bytes: some Collection<UInt8>) throws(ReceiptDecodingError) -> Receipt {
        var reader = Reader(bytes: Array(bytes))
        let version = try reader.byte("version")
        guard version == Receipt.version else {
            throw ReceiptDecodingError("receipt version \(version) is not known (this build reads version \(Receipt.version))")
        }
        let id = ReceiptID(bytes: try reader.take(16, "id"))!
        let session = ReceiptID(bytes: try reader.take(16, "session"))!
        let time = try reader.integer(UInt64.self, "time")
        let status = try reader.integer(UInt16.self, "status")
        let flags = try reader.byte("flags")
        guard flags & ~usageKnown == 0 else { throw ReceiptDecodingError("unknown flag bits \(flags) are set") }
        let prompt = try reader.integer(UInt32.self, "prompt tokens")
        let completion = try reader.integer(UInt32.self, "completion tokens")
        guard flags & usageKnown != 0 || prompt == 0 && completion == 0 else {
            throw ReceiptDecodingError("token counts are set although usage is marked unknown")
        }
        let peer = try reader.take(32, "peer")
        let tenant = try reader.text("tenant")
        let model = try reader.text("model")
        let modelVersion = try reader.text("model version")
        let tier = try reader.text("tier")
        let backend = try reader.text("backend")
        guard reader.isAtEnd else { throw ReceiptDecodingError("\(reader.remaining) bytes follow the receipt") }
        return Receipt(
            id: id, session: session, timeMicroseconds: time, tenant: tenant, peer: peer, model: model,
            modelVersion: modelVersion, tier: tier, backend: backend, status: status,
            usage: flags & usageKnown != 0 ? .init(promptTokens: prompt, completionTokens: completion) : nil
        )
    }

    private static func clipped(_ text: String) -> [UInt8] {
        guard text.utf8.count > maxTextBytes else { return Array(text.utf8) }
        var bytes: [UInt8] = []
        for scalar in text.unicodeScalars {
            let encoded = Array(String(scalar).utf8)
            guard bytes.count + encoded.count <= maxTextBytes else { break }
            bytes += encoded
        }
        return bytes
    }

    private static func append<T: FixedWidthInteger>(_ value: T, to out: inout [UInt8]) {
        withUnsafeBytes(of: value.bigEndian) { out.append(contentsOf: $0) }
    }

    private struct Reader {
        let bytes: [UInt8]
        var offset = 0

        var isAtEnd: Bool { offset == bytes.count }
        var remaining: Int { bytes.count - offset }

        mutating func take(_ count: Int, _ what: String) throws(ReceiptDecodingError) -> [UInt8] {
            guard remaining >= count else {
                throw ReceiptDecodingError("the receipt ends inside its \(what) (\(remaining) of \(count) bytes left)")
            }
            defer { offset += count }
            return Array(bytes[offset..<(offset + count)])
        }

        mutating func byte(_ what: String) throws(ReceiptDecodingError) -> UInt8 {
            try take(1, what)[0]
        }

        mutating func integer<T: FixedWidthInteger>(_: T.Type, _ what: String) throws(ReceiptDecodingError) -> T {
            try take(MemoryLayout<T>.size, what).reduce(0) { $0 << 8 | T($1) }
        }

        mutating func text(_ what: String) throws(ReceiptDecodingError) -> String {
            let count = Int(try integer(UInt16.self, "\(what) length"))
            guard count <= ReceiptEncoding.maxTextBytes else {
                throw ReceiptDecodingError("the \(what) is \(count) bytes; at most \(ReceiptEncoding.maxTextBytes) are allowed")
            }
            let raw = try take(count, what)
            guard let text = String(validating: raw, as: UTF8.self) else {
                throw ReceiptDecodingError("the \(what) is not valid UTF-8")
            }
            return text
        }
    }
}

/// Bytes that are not a version-1 receipt.
public struct ReceiptDecodingError: Error, Equatable, Sendable, CustomStringConvertible {
    public let reason: String

    public init(_ reason: String) {
        self.reason = reason
    }

    public var description: String { reason }
}
