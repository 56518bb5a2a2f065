/// One decoded attribute: its type (flag bits stripped) and payload.
public struct NetlinkAttribute: Sendable {
    /// The attribute type without `NLA_F_NESTED` / `NLA_F_NET_BYTEORDER`.
    public let type: UInt16
    /// Whether the kernel marked it nested.
    public let isNested: Bool
    /// The payload bytes.
    public let payload: ArraySlice<UInt8>

    /// Parses a run of attributes; throws on any length that does not fit.
    public static func parse(_ bytes: ArraySlice<UInt8>) throws(NetlinkError) -> [NetlinkAttribute] {
        var out: [NetlinkAttribute] = []
        var offset = bytes.startIndex
        while offset < bytes.endIndex {
            guard bytes.endIndex - offset >= 4 else {
                throw NetlinkError.malformed("an attribute header is cut off (\(bytes.endIndex - offset) bytes left)")
            }
            let length = Int(readLE(UInt16.self, bytes, offset))
            let rawType = readLE(UInt16.self, bytes, offset + 2)
            guard length >= 4, offset + length <= bytes.endIndex else {
                throw NetlinkError.malformed("attribute type \(rawType & NetlinkConstants.attributeTypeMask) claims \(length) bytes but \(bytes.endIndex - offset) remain")
            }
            out.append(NetlinkAttribute(
                type: rawType & NetlinkConstants.attributeTypeMask,
                isNested: rawType & NetlinkConstants.attributeNested != 0,
                payload: bytes[(offset + 4)..<(offset + length)]
            ))
            offset += (length + 3) & ~3
        }
        return out
    }

    /// The attributes inside this one.
    public func nested() throws(NetlinkError) -> [NetlinkAttribute] { try Self.parse(payload) }

    public func u8() throws(NetlinkError) -> UInt8 { try integer(UInt8.self) }
    public func u16() throws(NetlinkError) -> UInt16 { try integer(UInt16.self) }
    public func u32() throws(NetlinkError) -> UInt32 { try integer(UInt32.self) }
    public func u64() throws(NetlinkError) -> UInt64 { try integer(UInt64.self) }

    /// A NUL-terminated (or unterminated) string.
    public func string() -> String {
        String(decoding: payload.prefix { $0 != 0 }, as: UTF8.self)
    }

    private func integer<T: FixedWidthInteger>(_: T.Type) throws(NetlinkError) -> T {
        guard payload.count == MemoryLayout<T>.size else {
            throw NetlinkError.malformed("attribute type \(type) has \(payload.count) bytes; expected \(MemoryLayout<T>.size)")
        }
        return readLE(T.self, payload, payload.startIndex)
    }
}

/// Reads a little-endian integer at `offset` of `bytes` (bounds checked by the caller).
func readLE<T: FixedWidthInteger>(_: T.Type, _ bytes: ArraySlice<UInt8>, _ offset: Int) -> T {
    var value: T = 0
    for index in 0..<MemoryLayout<T>.size {
        value |= T(bytes[offset + index]) << (8 * index)
    }
    return value
}

extension Array where Element == NetlinkAttribute {
    /// The first attribute of `type`, if any.
    public func first(_ type: UInt16) -> NetlinkAttribute? { first { $0.type == type } }
}
