import CSodium

/// Secret key material: kept in locked memory where the system allows it, zeroed when the last
/// reference goes away, and never printed.
///
/// The bytes live in one heap allocation that is never copied by Swift's copy-on-write, so
/// zeroing in `deinit` really erases the only copy this type made.
public final class SecretBytes: @unchecked Sendable, CustomStringConvertible, CustomDebugStringConvertible {
    // Immutable after init; @unchecked Sendable is sound because nothing writes after init.
    private let pointer: UnsafeMutableRawBufferPointer
    private let locked: Bool

    /// The number of secret bytes.
    public var count: Int { pointer.count }

    /// Copies `bytes` into locked memory. The caller is responsible for wiping its own copy.
    public init(copying bytes: some Collection<UInt8>) {
        SodiumLibrary.ensureInitialized()
        let storage = UnsafeMutableRawBufferPointer.allocate(byteCount: bytes.count, alignment: 16)
        storage.copyBytes(from: bytes)
        pointer = storage
        locked = Self.lock(storage)
    }

    /// Fresh random secret bytes from the kernel's CSPRNG.
    public init(randomCount count: Int) {
        SodiumLibrary.ensureInitialized()
        let storage = UnsafeMutableRawBufferPointer.allocate(byteCount: count, alignment: 16)
        if let base = storage.baseAddress { randombytes_buf(base, count) }
        pointer = storage
        locked = Self.lock(storage)
    }

    /// Keeps the pages out of swap; fails harmlessly when RLIMIT_MEMLOCK is exhausted.
    private static func lock(_ storage: UnsafeMutableRawBufferPointer) -> Bool {
        guard let base = storage.baseAddress else { return false }
        return sodium_mlock(base, storage.count) == 0
    }

    deinit {
        if let base = pointer.baseAddress {
            // sodium_munlock zeroes before unlocking; sodium_memzero covers the unlocked case.
            if locked { sodium_munlock(base, pointer.count) } else { sodium_memzero(base, pointer.count) }
        }
        pointer.deallocate()
    }

    /// Gives temporary read access to the secret bytes. Do not let the pointer escape.
    public func withUnsafeBytes<R>(_ body: (UnsafeRawBufferPointer) throws -> R) rethrows -> R {
        try body(UnsafeRawBufferPointer(pointer))
    }

    /// Compares with other secret bytes in time independent of their content.
    public func constantTimeEquals(_ other: SecretBytes) -> Bool {
        guard count == other.count else { return false }
        return withUnsafeBytes { a in other.withUnsafeBytes { b in ConstantTime.equals(a, b) } }
    }

    public var description: String { "SecretBytes(\(count) bytes, redacted)" }
    public var debugDescription: String { description }
}
