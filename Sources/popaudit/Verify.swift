import ArgumentParser
import Foundation
import Receipts

extension Popaudit {
    struct Verify: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Verify a whole receipt log: every entry, tile and checkpoint ever signed.",
            discussion: """
                Rebuilds the Merkle tree from every entry, checks each checkpoint in checkpoints.log against it \
                (so the log was only ever appended to), checks every hash tile, and decodes every receipt \
                (ids unique, times never going back).
                """
        )

        @Argument(help: "The log's directory (from popctl receipts export).")
        var directory: String

        @OptionGroup var options: AuditOptions

        func run() throws {
            let verifier = try options.verifier()
            var isDirectory: ObjCBool = false
            guard FileManager.default.fileExists(atPath: directory, isDirectory: &isDirectory), isDirectory.boolValue else {
                throw ValidationError("\(directory) is not a directory")
            }
            let report = LogAudit.verify(directory: directory, verifier: verifier)
            func count(_ number: some BinaryInteger, _ noun: String) -> String { "\(number) \(noun)\(number == 1 ? "" : "s")" }
            let summary = "\(count(report.entries, "receipt")), \(count(report.checkpoints, "checkpoint")), \(count(report.tiles, "tile")); "
                + "latest checkpoint: size \(report.treeSize), root \(report.rootHash)"
            options.finish(
                valid: report.valid, text: report.problem ?? summary,
                fields: [
                    "problem": report.problem ?? NSNull(), "entries": report.entries, "checkpoints": report.checkpoints,
                    "tiles": report.tiles, "tree_size": report.treeSize, "root_hash": report.rootHash,
                ]
            )
        }
    }
}
