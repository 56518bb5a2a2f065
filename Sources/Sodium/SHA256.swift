import CSodium

/// SHA-256 (FIPS 180-4).
public enum SHA256 {
    /// The digest length in bytes.
    public static let byteCount = 32

    /// The SHA-256 digest of `data`.
    public static func hash(_ data: some Collection<UInt8>) -> [UInt8] {
        SodiumLibrary.ensureInitialized()
        var digest = [UInt8](repeating: 0, count: byteCount)
        let input = Array(data)
        digest.withUnsafeMutableBufferPointer { out in
            input.withUnsafeBufferPointer { inp in
                _ = crypto_hash_sha256(out.baseAddress!, inp.baseAddress, UInt64(inp.count))
            }
        }
        return digest
    }
}
