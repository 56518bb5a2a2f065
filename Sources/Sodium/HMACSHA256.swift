import CSodium

/// HMAC-SHA-256 (RFC 2104) with a 32-byte secret key: a keyed hash nobody without the key can
/// compute or invert.
public enum HMACSHA256 {
    /// The key length in bytes.
    public static let keyByteCount = Int(crypto_auth_hmacsha256_KEYBYTES)

    /// The 32-byte authenticator of `message` under `key`.
    public static func authenticate(_ message: some Collection<UInt8>, key: SecretBytes) -> [UInt8] {
        SodiumLibrary.ensureInitialized()
        precondition(key.count == keyByteCount, "an HMAC-SHA-256 key is \(keyByteCount) bytes")
        var out = [UInt8](repeating: 0, count: Int(crypto_auth_hmacsha256_BYTES))
        let input = Array(message)
        key.withUnsafeBytes { keyBytes in
            out.withUnsafeMutableBufferPointer { digest in
                input.withUnsafeBufferPointer { data in
                    _ = crypto_auth_hmacsha256(
                        digest.baseAddress!, data.baseAddress, UInt64(data.count),
                        keyBytes.bindMemory(to: UInt8.self).baseAddress!
                    )
                }
            }
        }
        return out
    }
}
