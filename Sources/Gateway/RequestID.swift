import NIOConcurrencyHelpers
import Sodium

/// A random request id (128 bits, hex), returned as `X-Request-Id` and used in logs.
enum RequestID {
    static func make() -> String {
        "req_" + Hex.encode(reserve.withLockedValue { $0.next() })
    }

    /// Ids are drawn from the kernel's random bytes 4 KiB at a time: one `getrandom` per 256
    /// requests rather than one per request. Each byte is handed out once.
    private static let reserve = NIOLockedValueBox(Reserve())

    private struct Reserve {
        private var bytes: [UInt8] = []
        private var offset = 0

        mutating func next() -> ArraySlice<UInt8> {
            if offset + 16 > bytes.count {
                bytes = Random.bytes(4096)
                offset = 0
            }
            defer { offset += 16 }
            return bytes[offset..<(offset + 16)]
        }
    }
}
