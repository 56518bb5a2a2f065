import Sodium

/// A SHA-256 hash of a leaf or an interior node of the receipt log's Merkle tree.
public struct TreeHash: Hashable, Sendable, CustomStringConvertible {
    /// The 32 bytes.
    public let bytes: [UInt8]

    /// Wraps 32 bytes; nil for any other length.
    public init?(bytes: some Collection<UInt8>) {
        guard bytes.count == SHA256.byteCount else { return nil }
        self.bytes = Array(bytes)
    }

    private init(digest: [UInt8]) {
        bytes = digest
    }

    /// RFC 9162 §2.1.1: the hash of a leaf, `SHA-256(0x00 || entry)`.
    public static func leaf(_ entry: [UInt8]) -> TreeHash {
        TreeHash(digest: SHA256.hash(prefix: 0x00, entry))
    }

    /// RFC 9162 §2.1.1: the hash of an interior node, `SHA-256(0x01 || left || right)`.
    public static func node(_ left: TreeHash, _ right: TreeHash) -> TreeHash {
        TreeHash(digest: SHA256.hash(prefix: 0x01, left.bytes, right.bytes))
    }

    /// The root of the empty tree, `SHA-256("")`.
    public static let empty = TreeHash(digest: SHA256.hash([UInt8]()))

    /// The base64 form, as in checkpoints and the receipt API.
    public var base64: String { Base64.encode(bytes) }

    /// Parses the base64 form; nil unless it is 32 bytes of standard base64.
    public init?(base64 text: some StringProtocol) {
        guard let bytes = Base64.decode(text), let hash = TreeHash(bytes: bytes) else { return nil }
        self = hash
    }

    public var description: String { Hex.encode(bytes) }
}
