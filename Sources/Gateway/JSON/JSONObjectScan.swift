/// One strict pass over a JSON text (RFC 8259) that must be an object: it checks the whole text
/// and notes where each top-level member's name and value lie, without building any value.
///
/// A request body is read on the event loop for every request, and the gateway needs only a few
/// of its members; decoding the rest into Foundation objects cost more than the rest of the
/// request's handling. Names and strings are kept as the client wrote them (escapes included):
/// a caller that meets a backslash where it reads must decode the text fully instead.
struct JSONObjectScan {
    enum Kind: Equatable {
        case string, number, object, array, `true`, `false`, null
    }

    struct Member {
        /// The name's bytes between its quotes, as written.
        let name: Range<Int>
        /// The value's bytes, quotes and brackets included.
        let value: Range<Int>
        let kind: Kind
    }

    /// The object's members in the order written (a name given twice appears twice).
    private(set) var members: [Member] = []

    /// How deep arrays and objects may nest: deeper text is refused rather than recursed into.
    static let maximumDepth = 512

    /// Scans `text`; nil when it is not one valid JSON object (or is not UTF-8).
    init?(_ text: UnsafeRawBufferPointer) {
        var reader = Reader(text: text)
        reader.skipSpace()
        guard reader.peek == UInt8(ascii: "{") else { return nil }
        reader.index += 1
        reader.skipSpace()
        if reader.peek == UInt8(ascii: "}") {
            reader.index += 1
        } else {
            while true {
                reader.skipSpace()
                let nameStart = reader.index + 1
                guard reader.peek == UInt8(ascii: "\""), reader.skipString() else { return nil }
                let name = nameStart..<(reader.index - 1)
                reader.skipSpace()
                guard reader.peek == UInt8(ascii: ":") else { return nil }
                reader.index += 1
                reader.skipSpace()
                let valueStart = reader.index
                guard let kind = reader.skipValue(depth: 1) else { return nil }
                members.append(Member(name: name, value: valueStart..<reader.index, kind: kind))
                reader.skipSpace()
                if reader.peek == UInt8(ascii: ",") {
                    reader.index += 1
                    continue
                }
                guard reader.peek == UInt8(ascii: "}") else { return nil }
                reader.index += 1
                break
            }
        }
        reader.skipSpace()
        guard reader.index == text.count else { return nil }
        // Bytes above ASCII were seen only inside strings; they must be UTF-8, as JSON text is.
        if reader.sawNonASCII, String(validating: text, as: UTF8.self) == nil { return nil }
    }

    private struct Reader {
        let text: UnsafeRawBufferPointer
        var index = 0
        var sawNonASCII = false

        /// The next byte, or 0 at the end (0 is never valid where a caller compares).
        var peek: UInt8 { index < text.count ? text[index] : 0 }

        mutating func skipSpace() {
            while index < text.count {
                switch text[index] {
                case 0x20, 0x09, 0x0A, 0x0D: index += 1
                default: return
                }
            }
        }

        /// One value starting at `index`; its kind, or nil if it is not valid JSON.
        mutating func skipValue(depth: Int) -> Kind? {
            switch peek {
            case UInt8(ascii: "\""):
                return skipString() ? .string : nil
            case UInt8(ascii: "{"):
                return skipContainer(close: UInt8(ascii: "}"), named: true, depth: depth) ? .object : nil
            case UInt8(ascii: "["):
                return skipContainer(close: UInt8(ascii: "]"), named: false, depth: depth) ? .array : nil
            case UInt8(ascii: "t"):
                return skipLiteral("true") ? .true : nil
            case UInt8(ascii: "f"):
                return skipLiteral("false") ? .false : nil
            case UInt8(ascii: "n"):
                return skipLiteral("null") ? .null : nil
            default:
                return skipNumber() ? .number : nil
            }
        }

        /// An object (`named`) or array whose opening bracket is at `index`.
        private mutating func skipContainer(close: UInt8, named: Bool, depth: Int) -> Bool {
            guard depth < JSONObjectScan.maximumDepth else { return false }
            index += 1
            skipSpace()
            if peek == close {
                index += 1
                return true
            }
            while true {
                skipSpace()
                if named {
                    guard peek == UInt8(ascii: "\""), skipString() else { return false }
                    skipSpace()
                    guard peek == UInt8(ascii: ":") else { return false }
                    index += 1
                    skipSpace()
                }
                guard skipValue(depth: depth + 1) != nil else { return false }
                skipSpace()
                if peek == UInt8(ascii: ",") {
                    index += 1
                    continue
                }
                guard peek == close else { return false }
                index += 1
                return true
            }
        }

        /// A string whose opening quote is at `index`: no raw control characters, only the escapes
        /// JSON has.
        mutating func skipString() -> Bool {
            index += 1
            while index < text.count {
                let byte = text[index]
                index += 1
                switch byte {
                case UInt8(ascii: "\""):
                    return true
                case UInt8(ascii: "\\"):
                    guard index < text.count else { return false }
                    let escaped = text[index]
                    index += 1
                    switch escaped {
                    case UInt8(ascii: "\""), UInt8(ascii: "\\"), UInt8(ascii: "/"), UInt8(ascii: "b"), UInt8(ascii: "f"),
                         UInt8(ascii: "n"), UInt8(ascii: "r"), UInt8(ascii: "t"):
                        break
                    case UInt8(ascii: "u"):
                        guard index + 4 <= text.count, text[index..<(index + 4)].allSatisfy(\.isHexDigit) else { return false }
                        index += 4
                    default:
                        return false
                    }
                case 0..<0x20:
                    return false
                case 0x80...:
                    sawNonASCII = true
                default:
                    break
                }
            }
            return false
        }

        /// `-? (0 | [1-9][0-9]*) (. [0-9]+)? ([eE] [+-]? [0-9]+)?`
        private mutating func skipNumber() -> Bool {
            if peek == UInt8(ascii: "-") { index += 1 }
            if peek == UInt8(ascii: "0") {
                index += 1
            } else {
                guard skipDigits() else { return false }
            }
            if peek == UInt8(ascii: ".") {
                index += 1
                guard skipDigits() else { return false }
            }
            if peek == UInt8(ascii: "e") || peek == UInt8(ascii: "E") {
                index += 1
                if peek == UInt8(ascii: "+") || peek == UInt8(ascii: "-") { index += 1 }
                guard skipDigits() else { return false }
            }
            return true
        }

        /// One or more decimal digits.
        private mutating func skipDigits() -> Bool {
            let start = index
            while index < text.count, (UInt8(ascii: "0")...UInt8(ascii: "9")).contains(text[index]) { index += 1 }
            return index > start
        }

        private mutating func skipLiteral(_ literal: StaticString) -> Bool {
            let count = literal.utf8CodeUnitCount
            guard index + count <= text.count,
                  text[index..<(index + count)].elementsEqual(UnsafeBufferPointer(start: literal.utf8Start, count: count))
            else { return false }
            index += count
            return true
        }
    }
}

private extension UInt8 {
    var isHexDigit: Bool {
        switch self {
        case UInt8(ascii: "0")...UInt8(ascii: "9"), UInt8(ascii: "a")...UInt8(ascii: "f"), UInt8(ascii: "A")...UInt8(ascii: "F"):
            true
        default:
            false
        }
    }
}
