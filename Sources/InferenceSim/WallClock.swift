#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif

/// Wall-clock time for logs that another process compares with its own clock: a test that closed
/// a connection at one instant reads when the simulator stopped generating.
enum WallClock {
    /// Microseconds since the Unix epoch. A Double holds today's count exactly to well under a
    /// microsecond, so the conversion loses nothing that matters.
    static func microsecondsSinceEpoch() -> Int64 {
        Int64((Date().timeIntervalSince1970 * 1_000_000).rounded())
    }
}
