import Foundation
import Sodium

/// A c2sp.org/signed-note: a text and its signature lines.
public struct SignedNote: Sendable, Equatable {
    /// One signature line: the key name, and the key id and signature it carries.
    public struct Signature: Sendable, Equatable {
        public let keyName: String
        public let keyID: UInt32
        public let signature: [UInt8]
    }

    /// The signed text, ending in a newline.
    public let text: String
    public let signatures: [Signature]

    /// Parses a note; the text and signatures are separated by the last blank line.
    public init(parsing note: String) throws(NoteError) {
        try checkNoteCharacters(note)
        guard note.hasSuffix("\n") else { throw NoteError("a signed note must end in a newline") }
        guard let separator = note.range(of: "\n\n", options: .backwards) else {
            throw NoteError("the note has no blank line before its signatures")
        }
        text = String(note[..<separator.lowerBound]) + "\n"
        var signatures: [Signature] = []
        for line in note[separator.upperBound...].split(separator: "\n", omittingEmptySubsequences: false).dropLast() {
            guard line.hasPrefix("— ") else { throw NoteError("\"\(line)\" is not a signature line (— NAME BASE64)") }
            let fields = line.dropFirst(2).split(separator: " ", omittingEmptySubsequences: false)
            guard fields.count == 2, let blob = Base64.decode(fields[1]), blob.count > 4 else {
                throw NoteError("the signature line \"\(line)\" is not — NAME BASE64 with a key id and a signature")
            }
            let id = blob[0..<4].reduce(0) { $0 << 8 | UInt32($1) }
            signatures.append(Signature(keyName: String(fields[0]), keyID: id, signature: Array(blob[4...])))
        }
        guard !signatures.isEmpty else { throw NoteError("the note has no signature lines") }
        guard signatures.count <= 16 else { throw NoteError("the note has \(signatures.count) signatures; at most 16 are read") }
        self.signatures = signatures
    }

    /// The text, once a signature by `verifier`'s key verifies. Signatures by other keys are
    /// ignored; one by this key that fails rejects the note.
    public func verifiedText(by verifier: NoteVerifier) throws(NoteError) -> String {
        let own = signatures.filter { $0.keyName == verifier.name && $0.keyID == verifier.keyID }
        guard !own.isEmpty else {
            throw NoteError("the note is not signed by \(verifier.name) (key id \(String(verifier.keyID, radix: 16)))")
        }
        for signature in own where !verifier.publicKey.isValidSignature(signature.signature, for: Array(text.utf8)) {
            _ = signature
            throw NoteError("the signature by \(verifier.name) does not verify: the note was altered or signed by another key")
        }
        return text
    }
}

/// UTF-8 (guaranteed by `String`) with no control characters but newline.
func checkNoteCharacters(_ note: String) throws(NoteError) {
    if let bad = note.unicodeScalars.first(where: { $0.value < 0x20 && $0 != "\n" || $0.value == 0x7f }) {
        throw NoteError("the note holds control character U+\(String(bad.value, radix: 16, uppercase: true)); notes may hold only newlines")
    }
}

/// A note text is non-empty, ends in a newline, and has no control characters but newline.
func checkNoteText(_ text: String) throws(NoteError) {
    try checkNoteCharacters(text)
    guard text.hasSuffix("\n") else { throw NoteError("a note text must end in a newline") }
}
