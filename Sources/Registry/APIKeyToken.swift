import Sodium

/// The bearer token a client sends: `popk_<16 hex id>_<64 hex secret>`.
///
/// The id finds the stored record; only SHA-256 of the secret is stored, and comparison is
/// in constant time. The secret has 256 bits of entropy, so a fast hash is the right one
/// (a password hash would only slow every request down).
public struct APIKeyToken: Sendable {
    /// The public identifier.
    public let keyID: String
    private let secretHex: String

    static let prefix = "popk_"

    /// A fresh random token.
    public static func generate() -> APIKeyToken {
        APIKeyToken(keyID: Hex.encode(Random.bytes(8)), secretHex: Hex.encode(Random.bytes(32)))
    }

    private init(keyID: String, secretHex: String) {
        self.keyID = keyID
        self.secretHex = secretHex
    }

    /// Parses a presented token; nil when it is not of popgate's form.
    public init?(presented text: Substring) {
        guard text.hasPrefix(Self.prefix) else { return nil }
        let body = text.dropFirst(Self.prefix.count)
        let parts = body.split(separator: "_", omittingEmptySubsequences: false)
        guard parts.count == 2, parts[0].utf8.count == 16, parts[1].utf8.count == 64,
              Hex.decode(String(parts[0])) != nil, Hex.decode(String(parts[1])) != nil
        else { return nil }
        self.init(keyID: String(parts[0]).lowercased(), secretHex: String(parts[1]).lowercased())
    }

    /// SHA-256 of the secret part, as stored.
    public var secretHash: [UInt8] { SHA256.hash(Array(secretHex.utf8)) }

    /// The whole token, to be shown once to the operator who created it.
    public func reveal() -> String { "\(Self.prefix)\(keyID)_\(secretHex)" }

    /// True when this token's secret matches `record`, compared in constant time.
    public func matches(_ record: APIKeyRecord) -> Bool {
        record.keyID == keyID && ConstantTime.equals(secretHash, record.secretHash)
    }
}
