import NIOConcurrencyHelpers
import Receipts
import Sodium

/// Random 128-bit ids: a request's (its receipt's id too: `X-Request-Id` is `req_` and the hex,
/// `X-Receipt-Id` `rcpt_` and the same hex) and a connection's (its receipts' session).
enum RequestID {
    static func make() -> ReceiptID {
        ReceiptID(bytes: reserve.withLockedValue { $0.next() })!
    }

    /// `X-Request-Id` for `id`: `req_` and the hex its receipt id shows after `rcpt_`.
    static func header(_ id: ReceiptID) -> String {
        "req_" + String(id.description.dropFirst("rcpt_".count))
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
