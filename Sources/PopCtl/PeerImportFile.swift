import Foundation

/// Where a row of an import file is: a CSV line (the one its record starts on, from 1, the header
/// being line 1) or a JSON array index (from 0, as `jq` counts).
package enum ImportLocation: Equatable, CustomStringConvertible {
    case line(Int)
    case index(Int)

    package var description: String {
        switch self {
        case .line(let line): "line \(line)"
        case .index(let index): "index \(index)"
        }
    }
}

/// One row of an import file, as written: fields not yet checked beyond the file's syntax.
package struct ImportRow: Equatable {
    package let location: ImportLocation
    /// Present, non-empty fields by column name; an empty CSV cell or a JSON null is absent.
    package let fields: [String: String]

    var tenant: String? { fields["tenant"] }
    var name: String? { fields["name"] }
    var publicKey: String? { fields["public_key"] }
    var expires: String? { fields["expires"] }
}

/// `popctl peer import FILE`: CSV with a header row, or a JSON array of objects, by extension.
/// Only the syntax is checked here, all of it before anything is registered; each row's values are
/// checked when it is registered, so a bad value refuses its row only. `package` for the fuzzer
/// (`peer-import` in FuzzTargets).
package enum PeerImportFile {
    package static let columns = ["tenant", "name", "public_key", "expires"]
    static let required = ["tenant", "name"]

    /// Reads and parses `path`; every error names the file and, where there is one, the line or index.
    static func read(_ path: String) throws(PopctlError) -> [ImportRow] {
        let kind = (path as NSString).pathExtension.lowercased()
        guard kind == "csv" || kind == "json" else {
            throw PopctlError(
                "\(path): cannot tell the format from the extension \"\(kind)\"; name the file .csv (a header row "
                    + "with \(columns.joined(separator: ", "))) or .json (an array of objects with those keys)"
            )
        }
        let data: Data
        do {
            data = try Data(contentsOf: URL(fileURLWithPath: path))
        } catch {
            throw PopctlError("cannot read \(path): \((error as NSError).localizedDescription)")
        }
        guard let text = String(data: data, encoding: .utf8) else {
            throw PopctlError("\(path) is not UTF-8 text; save it as UTF-8 and import it again")
        }
        do {
            return kind == "csv" ? try parseCSV(text) : try parseJSON(data)
        } catch {
            throw PopctlError("\(path): \(error.description); nothing was registered")
        }
    }

    // MARK: CSV

    /// RFC 4180 CSV: comma-separated, fields optionally in double quotes (`""` for a quote, and
    /// then commas and line breaks are data), LF or CRLF line ends. Blank lines are skipped and
    /// unquoted fields trimmed of surrounding spaces.
    package static func parseCSV(_ text: String) throws(PopctlError) -> [ImportRow] {
        let records = try csvRecords(text)
        guard let (_, header) = records.first else {
            throw PopctlError("the file is empty; the first line must be a header such as \"tenant,name,public_key\"")
        }
        let names = header.map { $0.lowercased() }
        for (position, name) in names.enumerated() {
            guard columns.contains(name) else {
                throw PopctlError(
                    "line 1: unknown column \"\(header[position])\"; the columns are \(columns.joined(separator: ", "))"
                )
            }
            guard names.firstIndex(of: name) == position else {
                throw PopctlError("line 1: the column \"\(name)\" appears twice")
            }
        }
        for name in required where !names.contains(name) {
            throw PopctlError(
                "line 1: the header has no \"\(name)\" column; \(required.joined(separator: " and ")) are required"
            )
        }
        return try records.dropFirst().map { (line, values) throws(PopctlError) in
            guard values.count == names.count else {
                throw PopctlError("line \(line): \(values.count) fields, but the header has \(names.count)")
            }
            var fields: [String: String] = [:]
            for (name, value) in zip(names, values) where !value.isEmpty { fields[name] = value }
            return ImportRow(location: .line(line), fields: fields)
        }
    }

    /// The records of `text` with the line each starts on.
    private static func csvRecords(_ text: String) throws(PopctlError) -> [(Int, [String])] {
        var records: [(Int, [String])] = []
        var fields: [String] = []
        var field = String.UnicodeScalarView()
        var quoted = false  // the current field began with a quote
        var inQuotes = false  // inside that quote now
        var afterQuote = false  // the closing quote was seen; only a comma or line end may follow
        var line = 1
        var recordLine = 1
        var quoteLine = 1

        func endField() {
            var value = String(field)
            if !quoted { value = value.trimmingCharacters(in: .whitespaces) }
            fields.append(value)
            field = .init()
            (quoted, afterQuote) = (false, false)
        }
        func endRecord() {
            let blank = fields.isEmpty && !quoted && String(field).trimmingCharacters(in: .whitespaces).isEmpty
            endField()
            if !blank { records.append((recordLine, fields)) }
            fields = []
        }

        var scalars = text.unicodeScalars[...]
        if scalars.first == "\u{FEFF}" { scalars = scalars.dropFirst() }
        var iterator = scalars.makeIterator()
        var pending: Unicode.Scalar? = iterator.next()
        while let scalar = pending {
            pending = iterator.next()
            if inQuotes {
                if scalar == "\"" {
                    if pending == "\"" {
                        field.append("\"")
                        pending = iterator.next()
                    } else {
                        (inQuotes, afterQuote) = (false, true)
                    }
                } else {
                    if scalar == "\n" { line += 1 }
                    field.append(scalar)
                }
                continue
            }
            switch scalar {
            case ",":
                endField()
            case "\r" where pending == "\n":
                continue
            case "\n", "\r":
                endRecord()
                line += 1
                recordLine = line
            case "\"":
                guard String(field).trimmingCharacters(in: .whitespaces).isEmpty, !afterQuote else {
                    throw PopctlError(
                        "line \(line): a quote inside an unquoted field; "
                            + "quote the whole field and double the quote (\"\")"
                    )
                }
                field = .init()
                (quoted, inQuotes, quoteLine) = (true, true, line)
            default:
                if afterQuote {
                    if scalar == " " || scalar == "\t" { continue }
                    throw PopctlError("line \(line): text after a closing quote; put a comma between fields")
                }
                field.append(scalar)
            }
        }
        if inQuotes {
            throw PopctlError("line \(quoteLine): a quoted field is never closed")
        }
        if !field.isEmpty || !fields.isEmpty || quoted { endRecord() }
        return records
    }

    // MARK: JSON

    /// A JSON array of objects whose values are strings (or null, meaning absent).
    package static func parseJSON(_ data: Data) throws(PopctlError) -> [ImportRow] {
        let document: Any
        do {
            document = try JSONSerialization.jsonObject(with: data)
        } catch {
            let detail = (error as NSError).userInfo[NSDebugDescriptionErrorKey] as? String
            throw PopctlError("not valid JSON: \(detail ?? "\(error)")")
        }
        guard let items = document as? [Any] else {
            throw PopctlError(
                "the document must be an array of objects, e.g. [{\"tenant\": \"acme\", \"name\": \"laptop\"}]"
            )
        }
        return try items.enumerated().map { (index, item) throws(PopctlError) in
            guard let object = item as? [String: Any] else {
                throw PopctlError("index \(index): not an object; each element is {\"tenant\": ..., \"name\": ...}")
            }
            var fields: [String: String] = [:]
            for (key, value) in object {
                guard columns.contains(key) else {
                    throw PopctlError(
                        "index \(index): unknown key \"\(key)\"; the keys are \(columns.joined(separator: ", "))"
                    )
                }
                if value is NSNull { continue }
                guard let string = value as? String else {
                    throw PopctlError("index \(index): \"\(key)\" must be a string")
                }
                if !string.isEmpty { fields[key] = string }
            }
            return ImportRow(location: .index(index), fields: fields)
        }
    }
}
