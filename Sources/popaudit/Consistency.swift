import ArgumentParser
import Foundation
import Receipts

extension Popaudit {
    struct Consistency: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Verify that a newer checkpoint extends an older one: nothing signed before was dropped or rewritten.",
            discussion: """
                OLD and NEW each hold a signed checkpoint: a bare note, a receipt file, or an answer of \
                GET /v1/receipts/checkpoint or /v1/receipts/consistency. The proof comes from NEW when it is a \
                consistency answer, else from --proof, else it is computed from the exported log in --log.
                """
        )

        @Argument(help: "The file with the older checkpoint.")
        var old: String

        @Argument(help: "The file with the newer checkpoint.")
        var new: String

        @Option(help: "An answer of GET /v1/receipts/consistency?from=OLD&to=NEW.")
        var proof: String?

        @Option(help: "An exported receipt log to compute the proof from.")
        var log: String?

        @OptionGroup var options: AuditOptions

        func run() throws {
            let verifier = try options.verifier()
            let oldData = try readFile(old)
            let newData = try readFile(new)
            let proofData = try proof.map(readFile)
            do {
                let older = try ClientProofs.checkpoint(in: oldData, verifier: verifier)
                let newer = try ClientProofs.checkpoint(in: newData, verifier: verifier)
                let hashes: [String]
                if let log {
                    hashes = try ConsistencyProof.make(
                        oldSize: older.size, newSize: newer.size, from: TileLogReader(directory: log)
                    ).map(\.base64)
                } else if let file = try? ClientProofs.consistencyProof(in: proofData ?? newData) {
                    guard file.from == older.size, file.to == newer.size else {
                        throw ProofError("the proof is from \(file.from) to \(file.to), the checkpoints are of \(older.size) and \(newer.size)")
                    }
                    hashes = file.proof
                } else {
                    throw ValidationError("no consistency proof: NEW is not a consistency answer; give --proof FILE or --log DIR")
                }
                try ClientProofs.checkConsistency(old: older, new: newer, proof: hashes)
                options.finish(
                    valid: true, text: "the checkpoint of size \(newer.size) extends the one of size \(older.size)",
                    fields: ["problem": NSNull(), "from": older.size, "to": newer.size]
                )
            } catch let error as ValidationError {
                throw error
            } catch {
                options.finish(valid: false, text: "\(error)", fields: ["problem": "\(error)"])
            }
        }
    }
}
