#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif

/// The `id` and `created` every OpenAI completion carries.
struct ResponseStamp: Sendable {
    /// `prefix` followed by 24 random hex digits (96 bits: unique enough to correlate logs).
    let id: String
    /// Unix seconds.
    let created: Int

    static func make(prefix: String) -> ResponseStamp {
        var generator = SystemRandomNumberGenerator()
        let hex = (0..<3).map { _ in
            let word = String(UInt32.random(in: .min ... .max, using: &generator), radix: 16)
            return String(repeating: "0", count: 8 - word.count) + word
        }.joined()
        return ResponseStamp(id: prefix + hex, created: Int(Date().timeIntervalSince1970))
    }
}
