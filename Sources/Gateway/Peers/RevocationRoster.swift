/// What a connection is told when the registry takes away what it was let in by.
enum Revocation: Sendable, Equatable {
    /// The connection's peer left the snapshot: the whole connection ends.
    case peer(PeerEnding)
    /// The API key with this id, which the connection's request in flight presented, was revoked.
    case key(String)
}

/// The open peer connections, each with the peer it belongs to and the API key of its request in
/// flight, if any: who must be told when a registry change revokes a peer or a key.
///
/// A value type with no lock of its own: ``PeerDirectory`` keeps it under the lock that guards
/// the snapshot, so a request admitted just before a change is seen by that change, and one
/// admitted just after is checked against the new snapshot.
struct RevocationRoster {
    /// A connection's place in the roster.
    struct Ticket: Hashable, Sendable {
        fileprivate let number: UInt64
    }

    /// One connection to tell, and what.
    struct Notice: Sendable {
        let revocation: Revocation
        fileprivate let tell: @Sendable (Revocation) -> Void

        /// Tells the connection (its handler hops to its own event loop).
        func deliver() { tell(revocation) }
    }

    private struct Holder {
        let peerID: Int64
        var keyID: String?
        let tell: @Sendable (Revocation) -> Void
    }

    private var holders: [UInt64: Holder] = [:]
    private var issued: UInt64 = 0

    /// The connections in the roster.
    var count: Int { holders.count }

    /// Adds a connection of peer `peerID`, to be told through `tell`.
    mutating func enroll(peerID: Int64, tell: @escaping @Sendable (Revocation) -> Void) -> Ticket {
        issued += 1
        holders[issued] = Holder(peerID: peerID, keyID: nil, tell: tell)
        return Ticket(number: issued)
    }

    /// The peer the connection belongs to, while it is enrolled.
    func peerID(of ticket: Ticket) -> Int64? {
        holders[ticket.number]?.peerID
    }

    /// Records the key of the connection's request in flight (nil once the request has ended).
    mutating func hold(_ ticket: Ticket, keyID: String?) {
        holders[ticket.number]?.keyID = keyID
    }

    /// Removes a connection that has closed.
    mutating func withdraw(_ ticket: Ticket) {
        holders[ticket.number] = nil
    }

    /// Whom `revoked` concerns: every connection of a revoked peer, and every connection whose
    /// request in flight presented a revoked key (a peer's end covers its keys).
    func notices(for revoked: RevokedEntries) -> [Notice] {
        guard !revoked.isEmpty else { return [] }
        return holders.values.compactMap { holder in
            if let ending = revoked.peers[holder.peerID] {
                return Notice(revocation: .peer(ending), tell: holder.tell)
            }
            if let keyID = holder.keyID, revoked.keys.contains(keyID) {
                return Notice(revocation: .key(keyID), tell: holder.tell)
            }
            return nil
        }
    }
}
