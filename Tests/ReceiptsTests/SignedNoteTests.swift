import Foundation
import Sodium
import Testing

@testable import Receipts

/// The signed-note example of golang.org/x/mod/sumdb/note (PeterNeumann), which C2SP signed-note
/// formalises: its verifier key, its signer key's seed, and the exact note Ed25519 produces.
@Suite struct SignedNoteTests {
    static let verifierKey = "PeterNeumann+c74f20a3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW"
    /// The signer key is `PRIVATE+KEY+PeterNeumann+c74f20a3+` and base64 of 0x01 ‖ seed.
    static let signerMaterial = "AYEKFALVFGyNhPJEMzD1QIDr+Y7hfZx09iUvxdXHKDFz"
    static let text = "If you think cryptography is the answer to your problem,\nthen you don't know what your problem is.\n"
    static let note = text
        + "\n— PeterNeumann x08go/ZJkuBS9UG/SffcvIAQxVBtiFupLLr8pAcElZInNIuGUgYN1FFYC2pZSNXgKvqfqdngotpRZb6KE6RyyBwJnAM=\n"

    static func signer() throws -> NoteSigner {
        let material = [UInt8](Data(base64Encoded: signerMaterial)!)
        #expect(material[0] == 0x01)
        let key = try Ed25519PrivateKey(seed: SecretBytes(copying: material[1...]))
        return try NoteSigner(name: "PeterNeumann", key: key)
    }

    @Test func keyIDAndVerifierKeyAreComputedAsPublished() throws {
        let signer = try Self.signer()
        #expect(String(signer.keyID, radix: 16) == "c74f20a3")
        #expect(signer.verifier.description == Self.verifierKey)
        #expect(try NoteVerifier(Self.verifierKey) == signer.verifier)
    }

    @Test func signingReproducesThePublishedNoteByteForByte() throws {
        #expect(try Self.signer().sign(Self.text) == Self.note)
    }

    @Test func thePublishedNoteVerifies() throws {
        let verifier = try NoteVerifier(Self.verifierKey)
        #expect(try SignedNote(parsing: Self.note).verifiedText(by: verifier) == Self.text)
    }

    @Test func alteredNotesAndKeysAreRefused() throws {
        let verifier = try NoteVerifier(Self.verifierKey)
        let altered = Self.note.replacingOccurrences(of: "cryptography", with: "cryptographY")
        #expect(throws: NoteError.self) { try SignedNote(parsing: altered).verifiedText(by: verifier) }
        // A key whose id does not match its name and material, and malformed keys.
        for bad in [
            "PeterNeumann+c74f20a4+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW",
            "PeterNeumanm+c74f20a3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW",
            "PeterNeumann+c74f20a3", "PeterNeumann+c74f20a3+AA==", "",
        ] {
            #expect(throws: NoteError.self) { try NoteVerifier(bad) }
        }
        // A note signed only by another key is not accepted.
        let other = try NoteSigner(name: "PeterNeumann", key: Ed25519PrivateKey())
        #expect(throws: NoteError.self) { try SignedNote(parsing: try other.sign(Self.text)).verifiedText(by: verifier) }
        // Control characters and a missing final newline.
        #expect(throws: NoteError.self) { try SignedNote(parsing: Self.note.replacingOccurrences(of: "problem,", with: "problem\t")) }
        #expect(throws: NoteError.self) { try SignedNote(parsing: String(Self.note.dropLast())) }
    }

    @Test func checkpointsRoundTripAndAreStrict() throws {
        let signer = try NoteSigner(name: "pop.example/receipts", key: Ed25519PrivateKey())
        let checkpoint = Checkpoint(origin: signer.name, size: 8, root: TreeHash(base64: "XcnaeacGWamtVZy3Ad7ZoqudgjqtL0lgz+Nw7/RgQyg=")!)
        let signed = try SignedCheckpoint(signing: checkpoint, with: signer)
        #expect(signed.note.hasPrefix("pop.example/receipts\n8\nXcnaeacGWamtVZy3Ad7ZoqudgjqtL0lgz+Nw7/RgQyg=\n\n— pop.example/receipts "))
        #expect(try SignedCheckpoint(note: signed.note, verifier: signer.verifier).checkpoint == checkpoint)
        for bad in ["o\n08\nXcnaeacGWamtVZy3Ad7ZoqudgjqtL0lgz+Nw7/RgQyg=\n", "o\n8\nXcna\n", "o\n8\n", "\n8\nXcnaeacGWamtVZy3Ad7ZoqudgjqtL0lgz+Nw7/RgQyg=\n"] {
            #expect(throws: NoteError.self) { try Checkpoint(text: bad) }
        }
    }
}
