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

extension SHA256 {
    /// The SHA-256 digest of `prefix ‖ data`, hashed in place (no concatenated copy): RFC 9162's
    /// leaf hash, hashed once per receipt.
    public static func hash(prefix: UInt8, _ data: [UInt8]) -> [UInt8] {
        hashParts(prefix) { state in
            data.withUnsafeBufferPointer { _ = crypto_hash_sha256_update(state, $0.baseAddress, UInt64($0.count)) }
        }
    }

    /// The SHA-256 digest of `prefix ‖ first ‖ second`: RFC 9162's interior node hash.
    public static func hash(prefix: UInt8, _ first: [UInt8], _ second: [UInt8]) -> [UInt8] {
        hashParts(prefix) { state in
            first.withUnsafeBufferPointer { _ = crypto_hash_sha256_update(state, $0.baseAddress, UInt64($0.count)) }
            second.withUnsafeBufferPointer { _ = crypto_hash_sha256_update(state, $0.baseAddress, UInt64($0.count)) }
        }
    }

    private static func hashParts(
        _ prefix: UInt8, _ update: (UnsafeMutablePointer<crypto_hash_sha256_state>) -> Void
    ) -> [UInt8] {
        SodiumLibrary.ensureInitialized()
        var state = crypto_hash_sha256_state()
        var first = prefix
        return [UInt8](unsafeUninitializedCapacity: byteCount) { digest, count in
            withUnsafeMutablePointer(to: &state) { state in
                _ = crypto_hash_sha256_init(state)
                _ = crypto_hash_sha256_update(state, &first, 1)
                update(state)
                _ = crypto_hash_sha256_final(state, digest.baseAddress!)
            }
            count = byteCount
        }
    }
}
