import Addressing
import Netlink

/// Deletes the conntrack entries whose original source is one address, so a revoked peer's
/// established connections stop at once instead of riding `ct state established accept`.
public enum ConntrackFlush {
    /// Deletes every connection `source` opened; returns how many were deleted.
    @discardableResult
    public static func flush(source: IPAddress) throws(FirewallError) -> Int {
        do {
            let socket = try NetlinkSocket(protocol: netfilterProtocol)
            let family = ConntrackMessages.family(of: source)
            let entries = try socket.dump(operation: "dumping conntrack entries to find those of \(source)") {
                ConntrackMessages.dumpRequest(family: family, sequence: $0)
            }
            var deleted = 0
            for case let (tuple, zone)? in entries.map({ ConntrackMessages.match($0, source: source) }) {
                let sequence = socket.allocateSequence()
                do {
                    _ = try socket.exchange(
                        ConntrackMessages.deleteRequest(family: family, tuple: tuple, zone: zone, sequence: sequence),
                        sequence: sequence, operation: "deleting a conntrack entry of \(source)"
                    )
                    deleted += 1
                } catch where error.errno == 2 {
                    continue  // ENOENT: it ended between the dump and the delete
                }
            }
            return deleted
        } catch {
            throw .netlink(error)
        }
    }
}
