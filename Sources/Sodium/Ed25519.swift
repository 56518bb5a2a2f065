import CSodium

/// An Ed25519 public key (RFC 8032).
public struct Ed25519PublicKey: Hashable, Sendable {
    /// The 32 raw bytes.
    public let rawBytes: [UInt8]

    /// Wraps 32 raw bytes.
    public init(rawBytes: [UInt8]) throws(SodiumError) {
        guard rawBytes.count == Int(crypto_sign_PUBLICKEYBYTES) else {
            throw SodiumError("an Ed25519 public key is 32 bytes; got \(rawBytes.count)")
        }
        self.rawBytes = rawBytes
    }

    /// True when `signature` is a valid signature of `message` by this key.
    public func isValidSignature(_ signature: [UInt8], for message: some Collection<UInt8>) -> Bool {
        SodiumLibrary.ensureInitialized()
        guard signature.count == Int(crypto_sign_BYTES) else { return false }
        let body = Array(message)
        return signature.withUnsafeBufferPointer { sig in
            body.withUnsafeBufferPointer { msg in
                rawBytes.withUnsafeBufferPointer { key in
                    crypto_sign_verify_detached(sig.baseAddress!, msg.baseAddress, UInt64(msg.count), key.baseAddress!)
                }
            }
        } == 0
    }
}

/// An Ed25519 signing key; its 64-byte libsodium secret lives in ``SecretBytes``.
public struct Ed25519PrivateKey: Sendable, CustomStringConvertible {
    private let secret: SecretBytes
    /// The matching public key.
    public let publicKey: Ed25519PublicKey

    /// Derives the key pair from a 32-byte seed (the RFC 8032 private key).
    public init(seed: SecretBytes) throws(SodiumError) {
        SodiumLibrary.ensureInitialized()
        guard seed.count == Int(crypto_sign_SEEDBYTES) else {
            throw SodiumError("an Ed25519 seed is 32 bytes; got \(seed.count)")
        }
        var publicBytes = [UInt8](repeating: 0, count: Int(crypto_sign_PUBLICKEYBYTES))
        var secretBytes = [UInt8](repeating: 0, count: Int(crypto_sign_SECRETKEYBYTES))
        _ = seed.withUnsafeBytes { seedBuffer in
            crypto_sign_seed_keypair(&publicBytes, &secretBytes, seedBuffer.bindMemory(to: UInt8.self).baseAddress!)
        }
        secret = SecretBytes(copying: secretBytes)
        secretBytes.withUnsafeMutableBytes { sodium_memzero($0.baseAddress!, $0.count) }
        publicKey = try Ed25519PublicKey(rawBytes: publicBytes)
    }

    /// A fresh random key pair.
    public init() {
        try! self.init(seed: SecretBytes(randomCount: Int(crypto_sign_SEEDBYTES)))
    }

    /// The 64-byte detached signature of `message`.
    public func signature(for message: some Collection<UInt8>) -> [UInt8] {
        var signature = [UInt8](repeating: 0, count: Int(crypto_sign_BYTES))
        let body = Array(message)
        secret.withUnsafeBytes { key in
            body.withUnsafeBufferPointer { msg in
                _ = crypto_sign_detached(
                    &signature, nil, msg.baseAddress, UInt64(msg.count), key.bindMemory(to: UInt8.self).baseAddress!
                )
            }
        }
        return signature
    }

    public var description: String { "Ed25519PrivateKey(redacted)" }
}
