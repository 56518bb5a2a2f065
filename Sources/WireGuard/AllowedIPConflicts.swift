import Addressing
import Sodium

/// WireGuard routes each address to exactly one peer: when two peers' allowed IPs overlap, the
/// device silently moves the address to whichever was configured last. popgate refuses such a
/// change instead, before anything reaches the device.
public enum AllowedIPConflicts {
    /// One overlap: two peers and the prefixes that collide.
    public struct Conflict: Sendable, Equatable, CustomStringConvertible {
        public let first: Curve25519PublicKey
        public let firstPrefix: IPPrefix
        public let second: Curve25519PublicKey
        public let secondPrefix: IPPrefix

        public var description: String {
            "peer \(second)'s allowed IP \(secondPrefix) overlaps \(firstPrefix) of peer \(first)"
        }
    }

    /// The first overlap between different peers, or nil. O(n log n) in the number of prefixes.
    public static func first(in peers: [PeerConfiguration]) -> Conflict? {
        var entries: [(start: [UInt8], end: [UInt8], prefix: IPPrefix, key: Curve25519PublicKey)] = []
        for peer in peers {
            for prefix in peer.allowedIPs {
                let start = prefix.network.bytes
                entries.append((start, lastAddress(start, length: prefix.length), prefix, peer.publicKey))
            }
        }
        entries.sort { $0.start.count != $1.start.count ? $0.start.count < $1.start.count : $0.start.lexicographicallyPrecedes($1.start) }
        var widest: (end: [UInt8], prefix: IPPrefix, key: Curve25519PublicKey)?
        for entry in entries {
            if let open = widest, open.end.count == entry.start.count, !open.end.lexicographicallyPrecedes(entry.start) {
                if open.key != entry.key {
                    return Conflict(first: open.key, firstPrefix: open.prefix, second: entry.key, secondPrefix: entry.prefix)
                }
                if open.end.lexicographicallyPrecedes(entry.end) { widest = (entry.end, entry.prefix, entry.key) }
            } else {
                widest = (entry.end, entry.prefix, entry.key)
            }
        }
        return nil
    }

    private static func lastAddress(_ network: [UInt8], length: Int) -> [UInt8] {
        var out = network
        for index in out.indices {
            let bitsBefore = index * 8
            if bitsBefore >= length {
                out[index] = 0xff
            } else if bitsBefore + 8 > length {
                out[index] |= UInt8(0xff >> (length - bitsBefore))
            }
        }
        return out
    }
}
