/// The receipt's fixed binary encoding (the log's leaves are these bytes), version 2:
///
///     u8  version (2; 1 in receipts written before usage had a source)
///     16  id                     16  session
///     u64 time, µs since the epoch
///     u16 status                 u8  flags
///     u32 prompt tokens          u32 completion tokens (0 unless usage is known)
///     32  peer public key
///     str tenant, model, model version, tier, backend
///
/// Flags: bit 0, usage known; bit 1, usage counted by the gateway rather than reported by the worker
/// (version 2 only, and only with bit 0); other bits 0. Version 1 is the same layout without bit 1.
///
/// Integers are big-endian; each `str` is a u16 byte count and that many bytes of UTF-8, at most
/// ``ReceiptEncoding/maxTextBytes``. Decoding accepts exactly this and nothing else, so every
/// receipt has one encoding; a receipt keeps its version, so a version-1 leaf re-encodes to the
/// bytes the log hashed.
public enum ReceiptEncoding {
    public static let maxTextBytes = 1024
    /// Every version this build reads and writes, oldest first.
    private static let knownVersions: [UInt8] = [1, 2]
    private static let usageKnown: UInt8 = 1 << 0
    private static let usageCounted: UInt8 = 1 << 1

    /// The bytes of `receipt` in its own ``Receipt/version``; a text longer than ``maxTextBytes`` is
    /// cut at a character boundary.
    ///
    /// - Precondition: the version is 1 or 2; a version-1 receipt's usage, if any, is
    ///   ``UsageSource/reported``; the peer is 32 bytes.
    public static func encode(_ receipt: Receipt) -> [UInt8] {
        precondition(
            knownVersions.contains(receipt.version),
            "receipt version \(receipt.version) cannot be written (this build writes versions \(versionList))"
        )
        var flags: UInt8 = 0
        if let usage = receipt.usage {
            flags |= usageKnown
            if usage.source == .counted {
                // Version and source are independent fields (decoding sets one, the gateway the other), so
                // this pair can be built; writing it as version 1 would sign counted tokens as reported.
                precondition(receipt.version >= 2, "a version-1 receipt cannot hold usage counted by the gateway")
                flags |= usageCounted
            }
        }
        var out: [UInt8] = []
        out.reserveCapacity(128 + receipt.tenant.utf8.count + receipt.model.utf8.count + receipt.backend.utf8.count)
        out.append(receipt.version)
        out += receipt.id.bytes
        out += receipt.session.bytes
        append(receipt.timeMicroseconds, to: &out)
        append(receipt.status, to: &out)
        out.append(flags)
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

    /// Decodes one receipt of any version this build knows, or says what is wrong with the bytes.
    public static func decode(_ bytes: some Collection<UInt8>) throws(ReceiptDecodingError) -> Receipt {
        var reader = Reader(bytes: Array(bytes))
        let version = try reader.byte("version")
        guard knownVersions.contains(version) else {
            throw ReceiptDecodingError(
                "receipt version \(version) is not known (this build reads versions \(versionList)): "
                    + "it was written by a newer popgate; read it with a build of that version or later"
            )
        }
        let id = ReceiptID(bytes: try reader.take(16, "id"))!
        let session = ReceiptID(bytes: try reader.take(16, "session"))!
        let time = try reader.integer(UInt64.self, "time")
        let status = try reader.integer(UInt16.self, "status")
        let flags = try reader.byte("flags")
        if version == 1 {
            guard flags & ~usageKnown == 0 else {
                throw ReceiptDecodingError(
                    "the flags are \(flags) in a version-1 receipt, which defines only bit 0 (usage known)"
                )
            }
        } else {
            guard flags & ~(usageKnown | usageCounted) == 0 else {
                throw ReceiptDecodingError(
                    "the flags are \(flags) in a version-\(version) receipt, which defines only bits 0 (usage known) "
                        + "and 1 (usage counted by the gateway)"
                )
            }
        }
        guard flags & usageCounted == 0 || flags & usageKnown != 0 else {
            throw ReceiptDecodingError("the usage is marked counted by the gateway although it is marked unknown")
        }
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
        let usage = flags & usageKnown == 0 ? nil : Receipt.Usage(
            promptTokens: prompt, completionTokens: completion,
            source: flags & usageCounted != 0 ? .counted : .reported
        )
        return Receipt(
            id: id, session: session, timeMicroseconds: time, tenant: tenant, peer: peer, model: model,
            modelVersion: modelVersion, tier: tier, backend: backend, status: status, usage: usage, version: version
        )
    }

    private static var versionList: String { knownVersions.map(String.init).joined(separator: " and ") }

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

/// Bytes that are not a receipt of any version this build reads.
public struct ReceiptDecodingError: Error, Equatable, Sendable, CustomStringConvertible {
    public let reason: String

    public init(_ reason: String) {
        self.reason = reason
    }

    public var description: String { reason }
}
