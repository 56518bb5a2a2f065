/// An address prefix in CIDR notation (`10.77.0.0/24`, `fd00::/64`, `10.77.0.2/32`).
public struct IPPrefix: Hashable, Sendable, CustomStringConvertible, Codable {
    /// The address as written; host bits may be set (`10.77.0.1/24` names an interface address).
    public let address: IPAddress
    /// The prefix length in bits.
    public let length: Int

    /// Creates a prefix; nil when the length does not fit the address family.
    public init?(address: IPAddress, length: Int) {
        guard length >= 0, length <= address.bitWidth else { return nil }
        self.address = address
        self.length = length
    }

    /// Parses `ADDRESS/LENGTH`, or a bare address as a host prefix (/32 or /128).
    public init?(_ text: String) {
        let parts = text.split(separator: "/", omittingEmptySubsequences: false)
        guard parts.count <= 2, let address = IPAddress(String(parts[0])) else { return nil }
        if parts.count == 2 {
            guard let length = Int(parts[1]), String(length) == parts[1] else { return nil }
            self.init(address: address, length: length)
        } else {
            self.init(address: address, length: address.bitWidth)
        }
    }

    /// The prefix with host bits cleared.
    public var network: IPAddress { IPAddress(bytes: masked(address.bytes))! }

    /// True when `other` lies inside this prefix.
    public func contains(_ other: IPAddress) -> Bool {
        other.isV4 == address.isV4 && masked(other.bytes) == masked(address.bytes)
    }

    /// True when the two prefixes share at least one address.
    public func overlaps(_ other: IPPrefix) -> Bool {
        guard other.address.isV4 == address.isV4 else { return false }
        let shorter = min(length, other.length)
        let a = IPPrefix(address: address, length: shorter)!
        return a.contains(other.address)
    }

    private func masked(_ bytes: [UInt8]) -> [UInt8] {
        var out = bytes
        for index in out.indices {
            let bitsBefore = index * 8
            if bitsBefore >= length {
                out[index] = 0
            } else if bitsBefore + 8 > length {
                out[index] &= UInt8(truncatingIfNeeded: 0xff << (8 - (length - bitsBefore)))
            }
        }
        return out
    }

    public var description: String { "\(address)/\(length)" }

    public init(from decoder: any Decoder) throws {
        let text = try decoder.singleValueContainer().decode(String.self)
        guard let prefix = IPPrefix(text) else {
            throw DecodingError.dataCorrupted(.init(codingPath: decoder.codingPath, debugDescription: "not a CIDR prefix: \(text)"))
        }
        self = prefix
    }

    public func encode(to encoder: any Encoder) throws {
        var container = encoder.singleValueContainer()
        try container.encode(description)
    }
}
