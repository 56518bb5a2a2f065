import Addressing
import ArgumentParser
import Foundation
import PopConfig
import Registry
import Sodium
import WireGuard

#if canImport(Glibc)
import Glibc
#endif

extension PeerCommand {
    struct Import: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Register many client devices from a CSV or JSON file.",
            discussion: """
                FILE is CSV with a header row (.csv) or a JSON array of objects (.json) with the fields tenant and \
                name (required), public_key (the client's own base64 key; without it popctl generates a key pair \
                as `peer add` does) and expires (as `peer add --expires`). The whole file's syntax is checked \
                first: a syntax error registers nothing. Then each row is registered whole or not at all; a bad \
                row is reported with its line (CSV) or index (JSON) and does not stop the others. \
                Each peer's wg-quick config is written with mode 0600 to --output-dir as <tenant>-<name>.conf; \
                --output-dir is required when a row has no public_key or the PoP uses preshared keys, since \
                those configs hold secrets that are not stored on the PoP. Exit status 0 when every row was \
                imported, 1 when any was refused.
                """
        )

        /// Rows per registry transaction: a commit costs far more than a row.
        static let batchSize = 500

        @OptionGroup var options: GlobalOptions
        @Argument(help: "The CSV or JSON file of peers.") var file: String
        @Option(help: "Write each config here (a new or empty directory) as <tenant>-<name>.conf, mode 0600.")
        var outputDir: String?
        @Flag(help: "Print the summary and each row's result as JSON.") var json = false

        func run() throws {
            let report = try perform()
            print(try report.render(json: json), terminator: "")
            if report.refused > 0 { throw ExitCode.failure }
        }

        /// Imports the file and returns what happened to each row; throws only when nothing was
        /// registered (a syntax error, a missing or unusable --output-dir, an unreadable config).
        func perform(progress: ImportProgress = .standardError) throws -> ImportReport {
            let rows = try PeerImportFile.read(file)
            let context = try Context(options)
            let settings = context.configuration.wireguard
            let popKey = try KeyFile.load(settings.privateKeyFile).publicKey
            let configDirectory = try ConfigDirectory.prepare(
                path: outputDir, rows: rows, presharedKeys: settings.presharedKeys
            )
            let now = Date()

            var results = [ImportResult?](repeating: nil, count: rows.count)
            // Rows whose values are bad are refused here; the others go to the registry in batches.
            var pending: [(row: Int, request: NewPeer, privateKey: Curve25519PrivateKey?)] = []
            for (position, row) in rows.enumerated() {
                do {
                    let (request, privateKey) = try Self.request(row, now: now, presharedKeys: settings.presharedKeys)
                    pending.append((position, request, privateKey))
                } catch {
                    results[position] = .refused(row, reason: error.description)
                }
            }

            var done = rows.count - pending.count
            progress.update(done, of: rows.count)
            for start in stride(from: 0, to: pending.count, by: Self.batchSize) {
                let batch = Array(pending[start..<min(start + Self.batchSize, pending.count)])
                let written = WrittenConfigs()
                let configuration = context.configuration
                let deliver: @Sendable (Int, Peer) throws -> Void = { index, peer in
                    guard let directory = configDirectory else { return }
                    let path = directory + "/\(peer.tenantName)-\(peer.name).conf"
                    let text = ClientConfig.render(
                        configuration: configuration, popKey: popKey, peer: peer,
                        clientPrivateKey: batch[index].privateKey, presharedKey: batch[index].request.presharedKey
                    )
                    try SecretFile.create(path, contents: text)
                    written.add(path)
                }
                do {
                    let outcomes = try context.store.addPeers(
                        batch.map(\.request), pool: settings.pool, reserved: [settings.address.address], now: now,
                        deliver: deliver
                    )
                    for (item, outcome) in zip(batch, outcomes) {
                        let row = rows[item.row]
                        switch outcome {
                        case .success(let peer):
                            let path = configDirectory.map { $0 + "/\(peer.tenantName)-\(peer.name).conf" }
                            results[item.row] = .imported(row, peer: peer, config: path)
                        case .failure(let error):
                            results[item.row] = .refused(row, reason: error.message)
                        }
                    }
                } catch {
                    // The batch was rolled back whole: its configs describe peers that do not exist.
                    written.removeAll()
                    for item in batch {
                        results[item.row] = .refused(rows[item.row], reason: "not registered: \(error)")
                    }
                }
                done += batch.count
                progress.update(done, of: rows.count)
            }
            progress.finish(total: rows.count)
            return ImportReport(rows: results.map { $0! }, outputDirectory: configDirectory)
        }

        /// The registry request for `row`, with the generated private key when it has no public key;
        /// throws the reason the row is refused.
        static func request(_ row: ImportRow, now: Date, presharedKeys: Bool) throws(PopctlError)
            -> (NewPeer, Curve25519PrivateKey?)
        {
            let both = "every row needs a tenant and a name"
            guard let tenant = row.tenant else { throw PopctlError("missing tenant; \(both)") }
            guard let name = row.name else { throw PopctlError("missing name; \(both)") }
            let supplied: Curve25519PublicKey?
            do {
                supplied = try row.publicKey.map { text throws(SodiumError) in try Curve25519PublicKey(base64: text) }
            } catch {
                throw PopctlError("public_key: \(error.reason)")
            }
            let expiresAt = try row.expires.map { text throws(PopctlError) in
                try DurationText.instant(text, option: "expires", now: now)
            }
            let keys = IssuedClientKeys(supplied: supplied, presharedKeys: presharedKeys)
            let request = NewPeer(
                tenant: tenant, name: name, publicKey: keys.publicKey, presharedKey: keys.presharedKey,
                expiresAt: expiresAt
            )
            return (request, keys.privateKey)
        }
    }
}

/// `--output-dir`, checked before anything is registered: required when any config holds a
/// secret, and then a new or empty directory (made with mode 0700 if new), so no config of an
/// earlier import is mixed in or overwritten.
enum ConfigDirectory {
    static func prepare(path: String?, rows: [ImportRow], presharedKeys: Bool) throws(PopctlError) -> String? {
        guard let path else {
            let keyless = rows.filter { $0.publicKey == nil }.count
            if keyless > 0 {
                throw PopctlError(
                    "\(keyless) of \(rows.count) rows have no public_key, so popctl generates their key pairs and "
                        + "must write their configs: give --output-dir DIR (a new or empty directory); "
                        + "nothing was registered"
                )
            }
            if presharedKeys && !rows.isEmpty {
                throw PopctlError(
                    "this PoP issues preshared keys (wireguard.preshared_keys), which only the configs carry: "
                        + "give --output-dir DIR (a new or empty directory); nothing was registered"
                )
            }
            return nil
        }
        var isDirectory: ObjCBool = false
        if FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory) {
            guard isDirectory.boolValue else {
                throw PopctlError("--output-dir: \(path) is a file; give a new or empty directory")
            }
            let entries = (try? FileManager.default.contentsOfDirectory(atPath: path)) ?? []
            guard entries.isEmpty else {
                throw PopctlError(
                    "--output-dir: \(path) is not empty (\(entries.count) entries); give a new or empty directory "
                        + "(configs are never overwritten); nothing was registered"
                )
            }
            guard FileManager.default.isWritableFile(atPath: path) else {
                throw PopctlError("--output-dir: \(path) is not writable; nothing was registered")
            }
        } else {
            do {
                try FileManager.default.createDirectory(
                    atPath: path, withIntermediateDirectories: true, attributes: [.posixPermissions: 0o700]
                )
            } catch {
                throw PopctlError("--output-dir: cannot create \(path): \((error as NSError).localizedDescription)")
            }
        }
        return path
    }
}

/// The configs one batch wrote, removed again if the batch's transaction fails.
private final class WrittenConfigs: @unchecked Sendable {
    // Only the registry's writer thread adds, while the importing thread waits for it.
    private let lock = NSLock()
    private var paths: [String] = []

    func add(_ path: String) { lock.withLock { paths.append(path) } }

    func removeAll() {
        lock.withLock {
            for path in paths { unlink(path) }
            paths = []
        }
    }
}

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

/// The progress bar on standard error, drawn only when it is a terminal.
struct ImportProgress {
    let enabled: Bool

    static var standardError: ImportProgress { ImportProgress(enabled: isatty(STDERR_FILENO) == 1) }
    static var silent: ImportProgress { ImportProgress(enabled: false) }

    func update(_ done: Int, of total: Int) {
        guard enabled, total > 0 else { return }
        let width = 30
        let filled = width * done / total
        let bar = String(repeating: "#", count: filled) + String(repeating: "-", count: width - filled)
        FileHandle.standardError.write(Data("\rimporting [\(bar)] \(done)/\(total) rows".utf8))
    }

    func finish(total: Int) {
        guard enabled, total > 0 else { return }
        FileHandle.standardError.write(Data("\n".utf8))
    }
}
