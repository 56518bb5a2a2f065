import Receipts
import Sodium

/// The fixed receipt-log key of the fuzz targets: the committed seeds' checkpoints are signed with
/// it, so the fuzzer starts from notes that verify and explores what lies past the signature check.
/// A test key, known to everyone: it signs nothing outside fuzzing.
package enum FuzzKeys {
    package static let origin = "fuzz.popgate.example/receipts"

    package static let signingKey: Ed25519PrivateKey = {
        do {
            return try Ed25519PrivateKey(seed: SecretBytes(copying: [UInt8](repeating: 0x5a, count: 32)))
        } catch {
            fatalError("the fixed fuzz key cannot be made: \(error)")
        }
    }()

    package static let signer: NoteSigner = {
        do {
            return try NoteSigner(name: origin, key: signingKey)
        } catch {
            fatalError("the fixed fuzz signer cannot be made: \(error)")
        }
    }()

    package static var verifier: NoteVerifier { signer.verifier }
}
