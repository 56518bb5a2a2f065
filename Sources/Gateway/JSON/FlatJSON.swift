/// Reads the integer members at the top level of a JSON object's text, skipping every other
/// value (strings, nested objects and arrays, fractions, literals) without building it.
package enum FlatJSON {
    /// The object's integer members by name; nil when the text is not an object.
    package static func integerMembers(ofObject text: ArraySlice<UInt8>) -> [String: Int]? {
        var reader = Reader(text: text)
        guard reader.take(UInt8(ascii: "{")) else { return nil }
        var members: [String: Int] = [:]
        if reader.take(UInt8(ascii: "}")) { return members }
        repeat {
            guard let name = reader.string(), reader.take(UInt8(ascii: ":")) else { return nil }
            if let number = reader.integer() {
                members[name] = number
            } else if !reader.skipValue() {
                return nil
            }
        } while reader.take(UInt8(ascii: ","))
        return reader.take(UInt8(ascii: "}")) ? members : nil
    }

    private struct Reader {
        let text: ArraySlice<UInt8>
        var index: Int

        init(text: ArraySlice<UInt8>) {
            self.text = text
            index = text.startIndex
        }

        private mutating func skipSpace() {
            while index < text.endIndex, [0x20, 0x09, 0x0A, 0x0D].contains(text[index]) { index += 1 }
        }

        /// Consumes `byte` (after any white space) if it is next.
        mutating func take(_ byte: UInt8) -> Bool {
            skipSpace()
            guard index < text.endIndex, text[index] == byte else { return false }
            index += 1
            return true
        }

        /// A string's raw contents (member names here are plain ASCII; escapes are kept as they are).
        mutating func string() -> String? {
            guard take(UInt8(ascii: "\"")) else { return nil }
            let start = index
            guard skipStringRest() else { return nil }
            return String(decoding: text[start..<(index - 1)], as: UTF8.self)
        }

        /// An integer that ends where the value ends; nil (and nothing consumed) for anything else.
        mutating func integer() -> Int? {
            skipSpace()
            var end = index
            if end < text.endIndex, text[end] == UInt8(ascii: "-") { end += 1 }
            let digits = end
            while end < text.endIndex, (UInt8(ascii: "0")...UInt8(ascii: "9")).contains(text[end]) { end += 1 }
            guard end > digits, end == text.endIndex || ![UInt8(ascii: "."), UInt8(ascii: "e"), UInt8(ascii: "E")].contains(text[end]),
                  let value = Int(String(decoding: text[index..<end], as: UTF8.self))
            else { return nil }
            index = end
            return value
        }

        /// Skips one value of any kind; false if the text ends inside it.
        mutating func skipValue() -> Bool {
            skipSpace()
            var depth = 0
            while index < text.endIndex {
                let byte = text[index]
                index += 1
                switch byte {
                case UInt8(ascii: "\""):
                    guard skipStringRest() else { return false }
                case UInt8(ascii: "{"), UInt8(ascii: "["):
                    depth += 1
                case UInt8(ascii: "}"), UInt8(ascii: "]"):
                    depth -= 1
                    if depth < 0 { return false }
                case UInt8(ascii: ","):
                    if depth == 0 {
                        index -= 1
                        return true
                    }
                default:
                    break
                }
                if depth == 0, byte != UInt8(ascii: ","), nextEndsValue() { return true }
            }
            return depth == 0
        }

        /// Whether the next byte (after white space) ends a member's value: `,` or the closing `}`.
        private mutating func nextEndsValue() -> Bool {
            skipSpace()
            return index < text.endIndex && (text[index] == UInt8(ascii: ",") || text[index] == UInt8(ascii: "}"))
        }

        /// Skips to just past the closing quote of a string whose opening quote is consumed.
        private mutating func skipStringRest() -> Bool {
            while index < text.endIndex {
                let byte = text[index]
                index += 1
                if byte == UInt8(ascii: "\\") {
                    index += 1
                } else if byte == UInt8(ascii: "\"") {
                    return true
                }
            }
            return false
        }
    }
}
