import Addressing
import Foundation
import Sodium

/// Reading peers: one query shape for every listing, and the one rule for what is live.
enum PeerRows {
    /// The WHERE clause for peers live at a time (its one argument, seconds since 1970).
    static let live = "p.state = 'active' AND (p.expires_at IS NULL OR p.expires_at > ?)"

    /// Peers matching `whereClause`, by id. A stored 'active' whose expiry has passed at `now` reads
    /// as expired: no reader depends on a write having recorded it.
    static func fetch(
        _ db: any RegistryTransaction, now: Date, whereClause: String, arguments: [any SQLBindable] = []
    ) throws -> [Peer] {
        try db.rows(
            """
            SELECT p.id, p.tenant_id, t.name AS tenant_name, p.name, p.public_key, p.address, p.preshared_key,
                   p.state, p.created_at, p.expires_at, p.pending_public_key, p.pending_preshared_key,
                   p.rotation_started_at, p.rotation_deadline
            FROM peers p JOIN tenants t ON t.id = p.tenant_id
            WHERE \(whereClause) ORDER BY p.id
            """,
            arguments
        ).map { row in try peer(row, now: now) }
    }

    private static func peer(_ row: SQLRow, now: Date) throws -> Peer {
        let expiresAt = try row.optionalDouble("expires_at").map(Date.init(timeIntervalSince1970:))
        var state = PeerState(rawValue: try row.string("state")) ?? .revoked
        if state == .active, let expiresAt, expiresAt <= now { state = .expired }
        return Peer(
            id: try row.int64("id"), tenantID: try row.int64("tenant_id"), tenantName: try row.string("tenant_name"),
            name: try row.string("name"), publicKey: try Curve25519PublicKey(base64: try row.string("public_key")),
            address: IPAddress(try row.string("address")) ?? .v4(0),
            presharedKey: try presharedKey(try row.optionalString("preshared_key")), state: state,
            createdAt: Date(timeIntervalSince1970: try row.double("created_at")), expiresAt: expiresAt,
            rotation: state == .active ? try rotation(row) : nil
        )
    }

    private static func rotation(_ row: SQLRow) throws -> PendingRotation? {
        guard let key = try row.optionalString("pending_public_key"),
              let started = try row.optionalDouble("rotation_started_at"),
              let deadline = try row.optionalDouble("rotation_deadline")
        else { return nil }
        return PendingRotation(
            publicKey: try Curve25519PublicKey(base64: key),
            presharedKey: try presharedKey(try row.optionalString("pending_preshared_key")),
            startedAt: Date(timeIntervalSince1970: started), deadline: Date(timeIntervalSince1970: deadline)
        )
    }

    private static func presharedKey(_ text: String?) throws -> WireGuardPresharedKey? {
        try text.map { text throws(RegistryError) in try WireGuardPresharedKey(base64: text) }
    }
}
