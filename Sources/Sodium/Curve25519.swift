import CSodium

/// A Curve25519 public key, as WireGuard uses for peer identities.
public struct Curve25519PublicKey: Hashable, Sendable, CustomStringConvertible, Codable {
    /// The 32 raw bytes.
    public let rawBytes: [UInt8]

    /// Wraps 32 raw bytes.
    public init(rawBytes: [UInt8]) throws(SodiumError) {
        guard rawBytes.count == 32 else {
            throw SodiumError("a Curve25519 public key is 32 bytes; got \(rawBytes.count)")
        }
        self.rawBytes = rawBytes
    }

    /// Parses the base64 form printed by `wg pubkey`.
    public init(base64 text: String) throws(SodiumError) {
        rawBytes = try Base64Key.decode(text, what: "a WireGuard public key")
    }

    // Hashed as one block of bytes, not byte by byte as the synthesized conformance would: popnetd
    // keys dictionaries of 10,000 peers by public key on every reconcile pass.
    public func hash(into hasher: inout Hasher) {
        rawBytes.withUnsafeBytes { hasher.combine(bytes: $0) }
    }

    /// The base64 form, exactly as `wg pubkey` prints it.
    public var base64: String { Base64Key.encode(rawBytes) }

    public var description: String { base64 }

    public init(from decoder: any Decoder) throws {
        let text = try decoder.singleValueContainer().decode(String.self)
        self = try Curve25519PublicKey(base64: text)
    }

    public func encode(to encoder: any Encoder) throws {
        var container = encoder.singleValueContainer()
        try container.encode(base64)
    }
}

/// A Curve25519 private key, clamped exactly as `wg genkey` does, held in ``SecretBytes``.
public struct Curve25519PrivateKey: Sendable, CustomStringConvertible {
    /// The secret scalar.
    public let secret: SecretBytes

    /// A fresh random key, clamped as RFC 7748 §5 and `wg genkey` do.
    public init() {
        var bytes = Random.bytes(32)
        bytes[0] &= 248
        bytes[31] = (bytes[31] & 127) | 64
        secret = SecretBytes(copying: bytes)
        bytes.withUnsafeMutableBytes { sodium_memzero($0.baseAddress!, $0.count) }
    }

    /// Parses the base64 form written by `wg genkey`.
    public init(base64 text: String) throws(SodiumError) {
        var bytes = try Base64Key.decode(text, what: "a WireGuard private key")
        secret = SecretBytes(copying: bytes)
        bytes.withUnsafeMutableBytes { sodium_memzero($0.baseAddress!, $0.count) }
    }

    /// The matching public key (X25519 scalar multiplication of the base point).
    public var publicKey: Curve25519PublicKey {
        SodiumLibrary.ensureInitialized()
        var out = [UInt8](repeating: 0, count: 32)
        let status = secret.withUnsafeBytes { scalar in
            out.withUnsafeMutableBufferPointer { crypto_scalarmult_curve25519_base($0.baseAddress!, scalar.baseAddress!) }
        }
        precondition(status == 0, "crypto_scalarmult_curve25519_base failed")
        return try! Curve25519PublicKey(rawBytes: out)
    }

    /// The base64 form, for writing into a key file or a client's wg-quick config only.
    public func base64Secret() -> String {
        secret.withUnsafeBytes { Base64Key.encode($0) }
    }

    public var description: String { "Curve25519PrivateKey(redacted)" }
}
