/// Finds the line on which a key of a TOML document was written.
///
/// TOMLKit exposes positions only for syntax errors, so semantic errors (a port out of range,
/// a bad prefix) locate their key by reading the text: table headers, then `key =` lines.
struct SourceLocator {
    private let lines: [Substring]

    init(text: String) {
        lines = text.split(separator: "\n", omittingEmptySubsequences: false)
    }

    /// The 1-based line of `key` inside `[table]` (or the `index`-th `[[table]]`), or of the
    /// table header when the key is nil or absent.
    func line(table: String?, index: Int? = nil, key: String?) -> Int? {
        var start = 0
        var headerLine: Int?
        if let table {
            let header = index == nil ? "[\(table)]" : "[[\(table)]]"
            var seen = 0
            guard let found = lines.indices.first(where: { lineIndex in
                guard stripped(lines[lineIndex]) == header else { return false }
                defer { seen += 1 }
                return seen == (index ?? 0)
            }) else { return nil }
            start = found + 1
            headerLine = found + 1
        }
        guard let key else { return headerLine }
        for lineIndex in start..<lines.count {
            let text = stripped(lines[lineIndex])
            if text.hasPrefix("[") { break }
            if let equals = text.firstIndex(of: "="),
               text[..<equals].trimmingSpaces() == key || text[..<equals].trimmingSpaces() == "\"\(key)\"" {
                return lineIndex + 1
            }
        }
        return headerLine
    }

    private func stripped(_ line: Substring) -> Substring {
        let withoutComment = line.firstIndex(of: "#").map { line[..<$0] } ?? line
        return withoutComment.trimmingSpaces()
    }
}

extension Substring {
    func trimmingSpaces() -> Substring {
        let isSpace: (Character) -> Bool = { $0 == " " || $0 == "\t" || $0 == "\r" }
        guard let first = firstIndex(where: { !isSpace($0) }), let last = lastIndex(where: { !isSpace($0) }) else {
            return self[endIndex...]
        }
        return self[first...last]
    }
}
