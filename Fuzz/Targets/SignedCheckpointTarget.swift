import Foundation
import Receipts

/// A signed checkpoint note (c2sp.org/signed-note and tlog-checkpoint) as popaudit and clients
/// check it against the log's verifier key (here ``FuzzKeys``), and a verifier key string as
/// popaudit is given one: a note is refused or yields a checkpoint that reads back the same.
enum SignedCheckpointTarget {
    static let target = FuzzTarget(
        name: "signed-checkpoint", summary: "signed checkpoint notes and verifier keys: parse, verify, read back",
        run: run
    )

    static func run(_ data: UnsafeRawBufferPointer) {
        let text = String(decoding: data, as: UTF8.self)
        if let note = try? SignedNote(parsing: text) {
            FuzzCheck.require(note.text.hasSuffix("\n"), "a parsed note's text does not end in a newline")
            _ = try? note.verifiedText(by: FuzzKeys.verifier)
        }
        if let checkpoint = try? Checkpoint(text: text) {
            FuzzCheck.require((try? Checkpoint(text: checkpoint.text)) == checkpoint, "a checkpoint reads back differently")
        }
        if let signed = try? SignedCheckpoint(note: text, verifier: FuzzKeys.verifier) {
            FuzzCheck.require(signed.checkpoint.origin == FuzzKeys.origin, "a verified checkpoint names another log")
        }
        _ = try? ClientProofs.checkpoint(in: Data(data), verifier: FuzzKeys.verifier)
        if let verifier = try? NoteVerifier(text) {
            FuzzCheck.require((try? NoteVerifier(verifier.description)) == verifier, "a verifier key reads back differently")
        }
    }
}
