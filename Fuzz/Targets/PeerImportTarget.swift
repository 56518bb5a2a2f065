import Foundation
import PopCtl

/// `popctl peer import FILE`'s readers (``PeerImportFile``): the CSV state machine and the JSON
/// array of objects. An operator's file, often exported from another system, so anything may be
/// in it; every input is rows or an error, and the rows survive being written out and read again.
enum PeerImportTarget {
    static let target = FuzzTarget(
        name: "peer-import", summary: "popctl peer import's CSV and JSON readers, with a write-and-read-back check",
        run: run
    )

    static func run(_ data: UnsafeRawBufferPointer) {
        let bytes = Data(data)
        if let text = String(data: bytes, encoding: .utf8), let rows = try? PeerImportFile.parseCSV(text) {
            checkKnownColumns(rows)
            let again = try? PeerImportFile.parseCSV(csv(rows))
            FuzzCheck.require(again?.map(\.fields) == rows.map(\.fields), "CSV rows written out and read again differ")
        }
        if let rows = try? PeerImportFile.parseJSON(bytes) {
            checkKnownColumns(rows)
            let again = (try? json(rows)).flatMap { try? PeerImportFile.parseJSON($0) }
            FuzzCheck.require(again?.map(\.fields) == rows.map(\.fields), "JSON rows written out and read again differ")
        }
    }

    private static func checkKnownColumns(_ rows: [ImportRow]) {
        for row in rows {
            FuzzCheck.require(row.fields.keys.allSatisfy(PeerImportFile.columns.contains), "a row has a column the header may not name")
            FuzzCheck.require(!row.fields.values.contains(""), "a row kept an empty field")
        }
    }

    /// Every field quoted, quotes doubled: RFC 4180 as a spreadsheet writes it. The quotes are
    /// doubled scalar by scalar, as the reader reads: a String-level replace compares characters, and
    /// a quote followed by a combining mark is one character that is not a quote, so it stays single.
    private static func csv(_ rows: [ImportRow]) -> String {
        func quoted(_ value: String) -> String {
            var scalars = String.UnicodeScalarView()
            scalars.append("\"")
            for scalar in value.unicodeScalars {
                if scalar == "\"" { scalars.append("\"") }
                scalars.append(scalar)
            }
            scalars.append("\"")
            return String(scalars)
        }
        let lines = [PeerImportFile.columns.joined(separator: ",")]
            + rows.map { row in PeerImportFile.columns.map { quoted(row.fields[$0] ?? "") }.joined(separator: ",") }
        return lines.joined(separator: "\r\n") + "\r\n"
    }

    private static func json(_ rows: [ImportRow]) throws -> Data {
        try JSONSerialization.data(withJSONObject: rows.map(\.fields))
    }
}
