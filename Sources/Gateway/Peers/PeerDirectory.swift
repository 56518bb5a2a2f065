import Addressing
import Foundation
import NIOConcurrencyHelpers
import Registry

/// The registry snapshot the gateway answers from, swapped whole when the registry changes, and
/// the open peer connections that a change must reach at once (``RevocationRoster``): a revoked
/// peer's connections and the requests in flight on a revoked key end within milliseconds of the
/// change, not at their next request.
///
/// Lookups happen on event loops for every new connection and request, so they read an
/// immutable snapshot under a lock held for the pointer copy; a replacement holds it longer, while
/// it finds the open connections a revocation must reach (their notices go out after it is released).
public final class PeerDirectory: Sendable {
    private let current: NIOLockedValueBox<State>

    /// A snapshot and its generation, which changes with every replacement: also with a reload
    /// by the clock (an expiry), which keeps the registry's revision.
    struct Versioned {
        var snapshot: RegistrySnapshot
        var generation: UInt64
    }

    /// One lock for both: a replacement and the roster's view of it are one step.
    private struct State {
        var versioned: Versioned
        var roster = RevocationRoster()
    }

    /// What a replacement took away, and how many open connections it reached.
    struct Replacement {
        var revoked = RevokedEntries()
        var connectionsTold = 0
    }

    /// Starts with `snapshot` (empty until the first registry read).
    public init(_ snapshot: RegistrySnapshot = .empty) {
        current = NIOLockedValueBox(State(versioned: Versioned(snapshot: snapshot, generation: 0)))
    }

    /// The snapshot in force.
    public var snapshot: RegistrySnapshot { current.withLockedValue { $0.versioned.snapshot } }

    /// The snapshot in force, with its generation.
    var versioned: Versioned { current.withLockedValue { $0.versioned } }

    /// Replaces the snapshot, and tells every open connection what the change took away from it.
    public func replace(with snapshot: RegistrySnapshot) {
        replaceReporting(with: snapshot)
    }

    /// ``replace(with:)``, saying what was taken away. The comparison runs outside the lock (it
    /// walks every peer and key); were another replacement to come first, it is made again.
    @discardableResult
    func replaceReporting(with snapshot: RegistrySnapshot, at now: Date = Date()) -> Replacement {
        while true {
            let old = versioned
            let revoked = RevokedEntries(from: old.snapshot, to: snapshot, at: now)
            let notices = current.withLockedValue { state -> [RevocationRoster.Notice]? in
                guard state.versioned.generation == old.generation else { return nil }
                state.versioned = Versioned(snapshot: snapshot, generation: old.generation + 1)
                return state.roster.notices(for: revoked)
            }
            guard let notices else { continue }
            // Outside the lock: each connection's handler hops to its own event loop.
            for notice in notices { notice.deliver() }
            return Replacement(revoked: revoked, connectionsTold: notices.count)
        }
    }

    /// The live peer whose tunnel address is `address`, if any.
    public func livePeer(at address: IPAddress) -> Peer? {
        snapshot.peersByAddress[address]
    }

    // MARK: Open connections

    /// Enrolls a connection from `address`, to be told through `tell` when its peer, or the key of
    /// its request in flight, is revoked; nil when `address` is no longer a live peer's.
    func enroll(
        address: IPAddress, tell: @escaping @Sendable (Revocation) -> Void
    ) -> RevocationRoster.Ticket? {
        current.withLockedValue { state in
            guard let peer = state.versioned.snapshot.peersByAddress[address] else { return nil }
            return state.roster.enroll(peerID: peer.id, tell: tell)
        }
    }

    /// Records that the connection's request in flight was admitted with `identity`, or says why
    /// it may not be: a change since the snapshot it was authenticated against took away its peer
    /// or its key (that change's notices went out before the request was enrolled).
    func admit(_ ticket: RevocationRoster.Ticket, _ identity: RequestIdentity) -> Revocation? {
        current.withLockedValue { state in
            let snapshot = state.versioned.snapshot
            guard let peerID = state.roster.peerID(of: ticket),
                  peerID == identity.peer.id, snapshot.peersByAddress[identity.peer.address]?.id == peerID
            else { return .peer(.revoked) }
            // The same test as RevokedEntries: a key moved to another tenant or given another secret
            // is not the key that was presented.
            guard let key = snapshot.apiKeysByID[identity.keyID], key.tenantID == identity.peer.tenantID,
                  key.secretHash == identity.keySecretHash
            else { return .key(identity.keyID) }
            state.roster.hold(ticket, keyID: identity.keyID)
            return nil
        }
    }

    /// The connection's request has ended: its key no longer concerns it.
    func release(_ ticket: RevocationRoster.Ticket) {
        current.withLockedValue { $0.roster.hold(ticket, keyID: nil) }
    }

    /// The connection has closed.
    func withdraw(_ ticket: RevocationRoster.Ticket) {
        current.withLockedValue { $0.roster.withdraw(ticket) }
    }

    /// The connections enrolled now.
    var enrolledConnections: Int { current.withLockedValue { $0.roster.count } }
}
