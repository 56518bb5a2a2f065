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
