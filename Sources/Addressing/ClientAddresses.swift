/// The addresses of a prefix that can be given to clients, in order, without listing them: an
/// IPv6 /64 has 2^64 of them.
///
/// IPv4 skips the network and broadcast addresses (for /31 and /32, every address counts). IPv6
/// skips the first address (the subnet-router anycast address, RFC 4291 section 2.6.1).
public struct ClientAddresses: Sendable {
    /// The prefix.
    public let prefix: IPPrefix
    /// How many there are, capped at `UInt64.max` (a /63 or shorter IPv6 prefix has more).
    public let count: UInt64
    private let firstOffset: UInt64

    init(_ prefix: IPPrefix) {
        self.prefix = prefix
        let hostBits = prefix.address.bitWidth - prefix.length
        if hostBits >= 64 {
            // 2^64 - 1 or more after skipping the first: capped, and only that many are reachable by index.
            firstOffset = 1
            count = .max
            return
        }
        let size = UInt64(1) << UInt64(hostBits)
        let skipped: UInt64 = prefix.address.isV4 ? (size <= 2 ? 0 : 2) : (size <= 1 ? 0 : 1)
        firstOffset = skipped == 0 ? 0 : 1
        count = size - skipped
    }

    /// The address at `index` (0 is the first client address); nil past the end.
    public func address(at index: UInt64) -> IPAddress? {
        guard index < count else { return nil }
        // index < count keeps the offset within the host bits: adding it to the network address
        // never carries into the prefix.
        let offset = firstOffset + index
        switch prefix.network {
        case .v4(let base):
            return .v4(base + UInt32(offset))
        case .v6(let bytes):
            let (high, low) = Self.halves(bytes)
            return .v6(Self.bytes(high: high, low: low + offset))
        }
    }

    /// Whether `address` is one of them.
    public func contains(_ address: IPAddress) -> Bool {
        guard prefix.contains(address) else { return false }
        let offset = Self.offset(of: address, from: prefix.network)
        return offset.map { $0 >= firstOffset && $0 - firstOffset < count } ?? (count == .max)
    }

    /// The lowest one not in `taken`, or nil when every one is taken. Tries at most
    /// `taken.count + 1` addresses, however large the prefix.
    public func lowest(notIn taken: Set<IPAddress>) -> IPAddress? {
        var index: UInt64 = 0
        while let candidate = address(at: index) {
            if !taken.contains(candidate) { return candidate }
            index += 1
        }
        return nil
    }

    /// `address - base` when it fits in 64 bits (`address` is not below `base`: both in the prefix).
    private static func offset(of address: IPAddress, from base: IPAddress) -> UInt64? {
        switch (address, base) {
        case (.v4(let a), .v4(let b)):
            return UInt64(a &- b)
        case (.v6(let a), .v6(let b)):
            let (highA, lowA) = halves(a)
            let (highB, lowB) = halves(b)
            let (low, borrow) = lowA.subtractingReportingOverflow(lowB)
            return highA &- highB &- (borrow ? 1 : 0) == 0 ? low : nil
        default:
            return nil
        }
    }

    private static func halves(_ bytes: [UInt8]) -> (high: UInt64, low: UInt64) {
        (bytes[0..<8].reduce(0) { $0 << 8 | UInt64($1) }, bytes[8..<16].reduce(0) { $0 << 8 | UInt64($1) })
    }

    private static func bytes(high: UInt64, low: UInt64) -> [UInt8] {
        (0..<8).map { UInt8(truncatingIfNeeded: high >> (56 - 8 * UInt64($0))) }
            + (0..<8).map { UInt8(truncatingIfNeeded: low >> (56 - 8 * UInt64($0))) }
    }
}

extension IPPrefix {
    /// The addresses of this prefix that can be given to clients.
    public var clientAddresses: ClientAddresses { ClientAddresses(self) }
}
