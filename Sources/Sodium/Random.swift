import CSodium

/// Random bytes from the kernel's CSPRNG (getrandom), through libsodium.
public enum Random {
    /// `count` uniformly random bytes.
    public static func bytes(_ count: Int) -> [UInt8] {
        SodiumLibrary.ensureInitialized()
        var out = [UInt8](repeating: 0, count: count)
        out.withUnsafeMutableBytes { buffer in
            if let base = buffer.baseAddress { randombytes_buf(base, count) }
        }
        return out
    }
}
