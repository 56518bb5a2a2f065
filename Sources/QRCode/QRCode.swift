import CQrencode

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

/// A QR code symbol (ISO/IEC 18004) encoded by libqrencode: a square matrix of dark and light modules.
///
/// The matrix is copied out of libqrencode's result at once, so the value holds no C memory.
public struct QRCode: Sendable, Equatable {
    /// How much of the symbol may be damaged or hidden and still decode; more costs modules.
    public enum ErrorCorrection: Sendable, CaseIterable {
        /// About 7 % of the codewords can be restored.
        case low
        /// About 15 %: the usual choice for codes shown on screens.
        case medium
        /// About 25 %.
        case quartile
        /// About 30 %.
        case high

        var level: QRecLevel {
            switch self {
            case .low: QR_ECLEVEL_L
            case .medium: QR_ECLEVEL_M
            case .quartile: QR_ECLEVEL_Q
            case .high: QR_ECLEVEL_H
            }
        }
    }

    /// The symbol version, 1 through 40; each step adds 4 modules a side.
    public let version: Int
    /// Modules per side, without a quiet zone (21 for version 1, 177 for version 40).
    public let size: Int
    /// Row-major, true for dark.
    private let modules: [Bool]

    /// Encodes `text` (as UTF-8) in the smallest version that holds it, choosing numeric, alphanumeric and
    /// byte segments as `qrencode` does (case-sensitive, no Kanji mode).
    public init(encoding text: String, correction: ErrorCorrection = .medium) throws(QRCodeError) {
        guard !text.utf8.contains(0) else {
            throw QRCodeError("cannot encode text that contains a NUL character as a QR code")
        }
        errno = 0
        guard let symbol = QRcode_encodeString(text, 0, correction.level, QR_MODE_8, 1) else {
            let code = errno
            switch code {
            case ERANGE:
                throw QRCodeError(
                    "\(text.utf8.count) bytes do not fit in a QR code at \(correction) error correction "
                        + "(version 40 is the largest); shorten the text or choose a lower correction level"
                )
            default:
                throw QRCodeError(
                    "libqrencode could not encode \(text.utf8.count) bytes: \(String(cString: strerror(code))) "
                        + "(errno \(code))"
                )
            }
        }
        defer { QRcode_free(symbol) }
        let width = Int(symbol.pointee.width)
        // Bit 0 of each byte is the module's colour; the other bits are libqrencode's bookkeeping.
        let data = UnsafeBufferPointer(start: symbol.pointee.data, count: width * width)
        version = Int(symbol.pointee.version)
        size = width
        modules = data.map { $0 & 1 == 1 }
    }

    /// True when the module in column `x`, row `y` is dark. Coordinates outside the symbol (the quiet zone)
    /// are light.
    public func isDark(x: Int, y: Int) -> Bool {
        guard (0..<size).contains(x), (0..<size).contains(y) else { return false }
        return modules[y * size + x]
    }
}

/// Why a text could not be encoded as a QR code.
public struct QRCodeError: Error, Sendable, CustomStringConvertible {
    /// What was attempted, what went wrong and what to do.
    public let reason: String

    init(_ reason: String) { self.reason = reason }

    public var description: String { reason }
}
