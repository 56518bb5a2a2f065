import Foundation

/// Standard base64 (with padding) of exactly 32 bytes: the text form `wg` uses for every key.
enum Base64Key {
    static let byteCount = 32

    static func encode(_ bytes: some Collection<UInt8>) -> String {
        Data(bytes).base64EncodedString()
    }

    /// Decodes a 44-character base64 key; the error says what is wrong with it.
    static func decode(_ text: String, what: String) throws(SodiumError) -> [UInt8] {
        let trimmed = text.trimmingCharacters(in: .whitespacesAndNewlines)
        guard trimmed.utf8.count == 44, trimmed.hasSuffix("="), let data = Data(base64Encoded: trimmed) else {
            throw SodiumError(
                "\(what) must be 44 characters of base64 encoding 32 bytes (as printed by `wg genkey`/`wg pubkey`); "
                    + "got \(trimmed.utf8.count) characters"
            )
        }
        guard data.count == byteCount else {
            throw SodiumError("\(what) decodes to \(data.count) bytes; a key is 32 bytes")
        }
        return [UInt8](data)
    }
}
