import Addressing
import Foundation
import GRDB
import Sodium

/// Reading peers: one query shape for every listing, and the one rule for what is live.
enum PeerRows {
    /// The WHERE clause for peers live at a time (its one argument, seconds since 1970).
    static let live = "p.state = 'active' AND (p.expires_at IS NULL OR p.expires_at > ?)"

    /// Peers matching `whereClause`, by id. A stored 'active' whose expiry has passed at `now` reads
    /// as expired: no reader depends on a write having recorded it.
    static func fetch(
        _ db: Database, now: Date, whereClause: String, arguments: StatementArguments = []
    ) throws -> [Peer] {
        try Row.fetchAll(
            db,
            sql: """
                SELECT p.id, p.tenant_id, t.name AS tenant_name, p.name, p.public_key, p.address, p.preshared_key,
                       p.state, p.created_at, p.expires_at, p.pending_public_key, p.pending_preshared_key,
                       p.rotation_started_at, p.rotation_deadline
                FROM peers p JOIN tenants t ON t.id = p.tenant_id
                WHERE \(whereClause) ORDER BY p.id
                """,
            arguments: arguments
        ).map { row in try peer(row, now: now) }
    }

    private static func peer(_ row: Row, now: Date) throws -> Peer {
        let expiresAt = (row["expires_at"] as Double?).map(Date.init(timeIntervalSince1970:))
        var state = PeerState(rawValue: row["state"]) ?? .revoked
        if state == .active, let expiresAt, expiresAt <= now { state = .expired }
        return Peer(
            id: row["id"], tenantID: row["tenant_id"], tenantName: row["tenant_name"], name: row["name"],
            publicKey: try Curve25519PublicKey(base64: row["public_key"]),
            address: IPAddress(row["address"] as String) ?? .v4(0),
            presharedKey: try presharedKey(row["preshared_key"]), state: state,
            createdAt: Date(timeIntervalSince1970: row["created_at"]), expiresAt: expiresAt,
            rotation: state == .active ? try rotation(row) : nil
        )
    }

    private static func rotation(_ row: Row) throws -> PendingRotation? {
        guard let key: String = row["pending_public_key"], let started: Double = row["rotation_started_at"],
              let deadline: Double = row["rotation_deadline"]
        else { return nil }
        return PendingRotation(
            publicKey: try Curve25519PublicKey(base64: key),
            presharedKey: try presharedKey(row["pending_preshared_key"]),
            startedAt: Date(timeIntervalSince1970: started), deadline: Date(timeIntervalSince1970: deadline)
        )
    }

    private static func presharedKey(_ text: String?) throws -> WireGuardPresharedKey? {
        try text.map { text throws(RegistryError) in try WireGuardPresharedKey(base64: text) }
    }
}
