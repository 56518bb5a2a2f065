/// Lower-case hexadecimal rendering and parsing, for digests and identifiers (never secrets).
public enum Hex {
    /// `bytes` as lower-case hex.
    public static func encode(_ bytes: some Collection<UInt8>) -> String {
        // Written in place: popnetd fingerprints every peer's preshared key on each device read.
        String(unsafeUninitializedCapacity: bytes.count * 2) { out in
            var index = 0
            for byte in bytes {
                out[index] = digit(byte >> 4)
                out[index + 1] = digit(byte & 0x0f)
                index += 2
            }
            return index
        }
    }

    private static func digit(_ nibble: UInt8) -> UInt8 {
        nibble < 10 ? UInt8(ascii: "0") + nibble : UInt8(ascii: "a") + nibble - 10
    }

    /// Parses hex (either case); nil when the text is not an even number of hex digits.
    public static func decode(_ text: String) -> [UInt8]? {
        decode(bytes: Array(text.utf8))
    }

    /// Decodes hex digits given as ASCII bytes; nil when one is not a hex digit or the count is odd.
    public static func decode(bytes: some Collection<UInt8>) -> [UInt8]? {
        let chars = Array(bytes)
        guard chars.count % 2 == 0 else { return nil }
        func value(_ c: UInt8) -> UInt8? {
            switch c {
            case UInt8(ascii: "0")...UInt8(ascii: "9"): c - UInt8(ascii: "0")
            case UInt8(ascii: "a")...UInt8(ascii: "f"): c - UInt8(ascii: "a") + 10
            case UInt8(ascii: "A")...UInt8(ascii: "F"): c - UInt8(ascii: "A") + 10
            default: nil
            }
        }
        var out = [UInt8]()
        out.reserveCapacity(chars.count / 2)
        var index = 0
        while index < chars.count {
            guard let high = value(chars[index]), let low = value(chars[index + 1]) else { return nil }
            out.append(high << 4 | low)
            index += 2
        }
        return out
    }
}
