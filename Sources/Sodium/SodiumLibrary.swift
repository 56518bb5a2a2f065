import CSodium

/// libsodium's one-time initialisation.
///
/// Every entry point of this module calls ``ensureInitialized()`` first; `sodium_init` is
/// idempotent and thread-safe, and it picks the fastest implementations for this CPU.
enum SodiumLibrary {
    static let initialized: Bool = sodium_init() >= 0

    static func ensureInitialized() {
        precondition(initialized, "libsodium failed to initialise (sodium_init returned -1)")
    }
}
