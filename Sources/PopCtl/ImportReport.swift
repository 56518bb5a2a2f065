import Addressing
import Foundation
import Registry
import Sodium

/// What became of one row.
enum ImportResult {
    case imported(ImportRow, peer: Peer, config: String?)
    case refused(ImportRow, reason: String)

    var row: ImportRow {
        switch self {
        case .imported(let row, _, _), .refused(let row, _): row
        }
    }
}

/// The outcome of an import, as printed.
struct ImportReport {
    let rows: [ImportResult]
    let outputDirectory: String?

    var imported: Int { rows.count - refused }
    var refused: Int { rows.filter { if case .refused = $0 { true } else { false } }.count }

    /// The summary line and each refused row, or the JSON document, with a final newline.
    func render(json: Bool) throws -> String {
        if json { return try JSONOutput.render(Document(self)) + "\n" }
        var text = "imported \(imported) peers, \(refused) rows refused"
        if let outputDirectory, imported > 0 { text += "; configs written to \(outputDirectory) (mode 0600)" }
        text += "\n"
        for case .refused(let row, let reason) in rows {
            let who = [row.tenant.map { "tenant \($0)" }, row.name.map { "name \($0)" }].compactMap { $0 }
            let label = who.isEmpty ? "" : " (\(who.joined(separator: ", ")))"
            text += "\(row.location)\(label): \(reason)\n"
        }
        return text
    }

    /// `--json`: snake_case keys, an absent value as an explicit null.
    struct Document: Encodable {
        let imported: Int
        let refused: Int
        let outputDir: String?
        let rows: [Row]

        init(_ report: ImportReport) {
            imported = report.imported
            refused = report.refused
            outputDir = report.outputDirectory
            rows = report.rows.map(Row.init)
        }

        enum CodingKeys: String, CodingKey {
            case imported, refused, outputDir = "output_dir", rows
        }

        func encode(to encoder: any Encoder) throws {
            var container = encoder.container(keyedBy: CodingKeys.self)
            try container.encode(imported, forKey: .imported)
            try container.encode(refused, forKey: .refused)
            try container.encode(outputDir, forKey: .outputDir)
            try container.encode(rows, forKey: .rows)
        }

        struct Row: Encodable {
            let result: ImportResult

            enum CodingKeys: String, CodingKey {
                case line, index, tenant, name, status, address, publicKey = "public_key", expiresAt = "expires_at"
                case config, reason
            }

            func encode(to encoder: any Encoder) throws {
                var container = encoder.container(keyedBy: CodingKeys.self)
                let row = result.row
                switch row.location {
                case .line(let line): try container.encode(line, forKey: .line)
                case .index(let index): try container.encode(index, forKey: .index)
                }
                try container.encode(row.tenant, forKey: .tenant)
                try container.encode(row.name, forKey: .name)
                switch result {
                case .imported(_, let peer, let config):
                    try container.encode("imported", forKey: .status)
                    try container.encode(peer.address.description, forKey: .address)
                    try container.encode(peer.publicKey.base64, forKey: .publicKey)
                    try container.encode(peer.expiresAt, forKey: .expiresAt)
                    try container.encode(config, forKey: .config)
                    try container.encodeNil(forKey: .reason)
                case .refused(_, let reason):
                    try container.encode("refused", forKey: .status)
                    try container.encodeNil(forKey: .address)
                    try container.encodeNil(forKey: .publicKey)
                    try container.encodeNil(forKey: .expiresAt)
                    try container.encodeNil(forKey: .config)
                    try container.encode(reason, forKey: .reason)
                }
            }
        }
    }
}
