import Sodium

/// The C2SP signed-note algorithm byte for Ed25519.
let ed25519SignatureType: UInt8 = 0x01

/// A key name as c2sp.org/signed-note allows it: non-empty, no Unicode space, no `+`.
func checkKeyName(_ name: String) throws(NoteError) {
    guard !name.isEmpty, !name.unicodeScalars.contains(where: { $0.properties.isWhitespace || $0 == "+" }),
          !name.unicodeScalars.contains(where: { $0.value < 0x20 })
    else {
        throw NoteError("\"\(name)\" is not a signed-note key name: it must be non-empty, with no spaces and no '+'")
    }
}

/// c2sp.org/signed-note: the key id is the first four bytes of SHA-256(name ‖ 0x0A ‖ type ‖ key).
func noteKeyID(name: String, publicKey: Ed25519PublicKey) -> UInt32 {
    let digest = SHA256.hash(Array(name.utf8) + [0x0A, ed25519SignatureType] + publicKey.rawBytes)
    return digest[0..<4].reduce(0) { $0 << 8 | UInt32($1) }
}

/// Signs notes (checkpoints) with the log's Ed25519 key.
public struct NoteSigner: Sendable {
    /// The key name, which is also the log's origin.
    public let name: String
    private let key: Ed25519PrivateKey
    /// The key id that prefixes each signature.
    public let keyID: UInt32

    public init(name: String, key: Ed25519PrivateKey) throws(NoteError) {
        try checkKeyName(name)
        self.name = name
        self.key = key
        keyID = noteKeyID(name: name, publicKey: key.publicKey)
    }

    /// The verifier key auditors and clients are given: `name+hexid+base64(0x01 ‖ key)`.
    public var verifier: NoteVerifier {
        NoteVerifier(name: name, keyID: keyID, publicKey: key.publicKey)
    }

    /// `text` (which must end in a newline) signed: the text, a blank line, one signature line.
    public func sign(_ text: String) throws(NoteError) -> String {
        try checkNoteText(text)
        let signature = key.signature(for: Array(text.utf8))
        let blob = withUnsafeBytes(of: keyID.bigEndian) { Array($0) } + signature
        return text + "\n— \(name) \(Base64.encode(blob))\n"
    }
}

/// Checks signatures by one key, given by its verifier key string.
public struct NoteVerifier: Sendable, Equatable, CustomStringConvertible {
    public let name: String
    public let keyID: UInt32
    public let publicKey: Ed25519PublicKey

    init(name: String, keyID: UInt32, publicKey: Ed25519PublicKey) {
        self.name = name
        self.keyID = keyID
        self.publicKey = publicKey
    }

    /// Parses `name+hexid+base64(0x01 ‖ key)`, and checks that the id matches the name and key.
    public init(_ text: String) throws(NoteError) {
        let parts = text.trimmingSpaces.split(separator: "+", maxSplits: 2, omittingEmptySubsequences: false)
        guard parts.count == 3 else {
            throw NoteError("\"\(text)\" is not a verifier key: expected NAME+KEYID+BASE64, as popctl receipts key prints it")
        }
        let name = String(parts[0])
        try checkKeyName(name)
        guard parts[1].utf8.count == 8, let idBytes = Hex.decode(String(parts[1])) else {
            throw NoteError("the key id \"\(parts[1])\" in the verifier key is not 8 hex digits")
        }
        guard let material = Base64.decode(parts[2]), material.count == 33, material[0] == ed25519SignatureType,
              let key = try? Ed25519PublicKey(rawBytes: Array(material[1...]))
        else {
            throw NoteError("the verifier key's material is not base64 of 0x01 and a 32-byte Ed25519 key")
        }
        let id = idBytes.reduce(0) { $0 << 8 | UInt32($1) }
        guard id == noteKeyID(name: name, publicKey: key) else {
            throw NoteError("the verifier key's id \(parts[1]) does not match its name and key: the key was altered")
        }
        self.init(name: name, keyID: id, publicKey: key)
    }

    public var description: String {
        let id = withUnsafeBytes(of: keyID.bigEndian) { Hex.encode($0) }
        return "\(name)+\(id)+\(Base64.encode([ed25519SignatureType] + publicKey.rawBytes))"
    }
}

extension String {
    var trimmingSpaces: Substring {
        let scalars = unicodeScalars
        guard let first = scalars.firstIndex(where: { !$0.properties.isWhitespace }) else { return "" }
        let last = scalars.lastIndex(where: { !$0.properties.isWhitespace })!
        return Substring(scalars[first...last])
    }
}
