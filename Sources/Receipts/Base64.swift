import Foundation

/// Standard base64 (RFC 4648 §4), as checkpoints, signed notes and the receipt API write it.
enum Base64 {
    static func encode(_ bytes: some Collection<UInt8>) -> String {
        Data(bytes).base64EncodedString()
    }

    /// Nil unless `text` is canonical padded base64.
    static func decode(_ text: some StringProtocol) -> [UInt8]? {
        guard let data = Data(base64Encoded: String(text)) else { return nil }
        let bytes = [UInt8](data)
        // Foundation accepts some non-canonical forms; a signed text must have exactly one.
        return encode(bytes) == String(text) ? bytes : nil
    }
}
