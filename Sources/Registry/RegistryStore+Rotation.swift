import Foundation
import Sodium

extension RegistryStore {
    /// Starts (or restarts) a key rotation of the live peer `nameOrKey`: `publicKey` becomes its
    /// pending key until popnetd completes the rotation, at the latest `grace` seconds from `now`.
    ///
    /// Returns the peer with its new pending rotation, and the pending rotation it replaced, if any
    /// (that key is then no longer accepted).
    public func beginRotation(
        _ nameOrKey: String, publicKey: Curve25519PublicKey, presharedKey: WireGuardPresharedKey?, grace: TimeInterval,
        now: Date = Date()
    ) throws(RegistryError) -> (peer: Peer, replaced: PendingRotation?) {
        guard grace > 0, grace.isFinite else {
            throw RegistryError(.invalidArgument, "the grace period must be longer than zero (e.g. 24h)")
        }
        return try write(at: now) { db in
            let peer = try Self.requireLivePeer(db, nameOrKey, now: now)
            if publicKey == peer.publicKey {
                throw RegistryError(
                    .duplicate,
                    "\(publicKey) is already the current key of peer \"\(peer.name)\"; a rotation needs a new key"
                )
            }
            try Self.requireUnusedKey(db, publicKey, exceptPendingOf: peer.id)
            let rotation = PendingRotation(
                publicKey: publicKey, presharedKey: presharedKey, startedAt: now,
                deadline: now.addingTimeInterval(grace)
            )
            try db.execute(
                """
                UPDATE peers SET pending_public_key = ?, pending_preshared_key = ?, rotation_started_at = ?,
                       rotation_deadline = ?
                WHERE id = ?
                """,
                [
                    publicKey.base64, presharedKey?.base64Secret(), now.timeIntervalSince1970,
                    rotation.deadline.timeIntervalSince1970, peer.id,
                ]
            )
            let rotating = Peer(
                id: peer.id, tenantID: peer.tenantID, tenantName: peer.tenantName, name: peer.name,
                publicKey: peer.publicKey, address: peer.address, presharedKey: peer.presharedKey, state: peer.state,
                createdAt: peer.createdAt, expiresAt: peer.expiresAt, rotation: rotation
            )
            return (rotating, peer.rotation)
        }
    }

    /// Withdraws the pending rotation of peer `peerID` if its pending key is still `pendingKey`;
    /// false when there was no such rotation (it completed, or was replaced).
    @discardableResult
    public func cancelRotation(
        peerID: Int64, pendingKey: Curve25519PublicKey, now: Date = Date()
    ) throws(RegistryError) -> Bool {
        try write(at: now) { db in
            try !db.rows(
                """
                UPDATE peers SET pending_public_key = NULL, pending_preshared_key = NULL,
                       rotation_started_at = NULL, rotation_deadline = NULL
                WHERE id = ? AND state = 'active' AND pending_public_key = ?
                RETURNING id
                """,
                [peerID, pendingKey.base64]
            ).isEmpty
        }
    }

    /// Records that the pending key `pendingKey` of peer `peerID` took over: it becomes the peer's
    /// key (with its preshared key) and the old key is no longer live anywhere. False, changing
    /// nothing, when that rotation is no longer pending (replaced by a newer rotate, or the peer
    /// was revoked or expired): the caller re-reads and decides again.
    @discardableResult
    public func completeRotation(
        peerID: Int64, pendingKey: Curve25519PublicKey, now: Date = Date()
    ) throws(RegistryError) -> Bool {
        try write(at: now) { db in
            try !db.rows(
                """
                UPDATE peers SET public_key = pending_public_key, preshared_key = pending_preshared_key,
                       pending_public_key = NULL, pending_preshared_key = NULL, rotation_started_at = NULL,
                       rotation_deadline = NULL, rotated_at = ?
                WHERE id = ? AND state = 'active' AND pending_public_key = ?
                RETURNING id
                """,
                [now.timeIntervalSince1970, peerID, pendingKey.base64]
            ).isEmpty
        }
    }
}
