import Addressing
import Foundation
import Sodium

extension RegistryStore {
    /// Peers live at `now`; with `includingInactive`, also revoked and expired ones.
    public func peers(includingInactive: Bool = false, at now: Date = Date()) throws(RegistryError) -> [Peer] {
        try read { db in
            includingInactive
                ? try PeerRows.fetch(db, now: now, whereClause: "TRUE")
                : try PeerRows.fetch(db, now: now, whereClause: PeerRows.live, arguments: [now.timeIntervalSince1970])
        }
    }

    /// The peer with this name or base64 public key: the live one, else the most recent revoked or
    /// expired one of that name (so `peer show` explains why a device stopped working).
    public func peer(_ nameOrKey: String, at now: Date = Date()) throws(RegistryError) -> Peer {
        try read { db in
            let matches = try PeerRows.fetch(
                db, now: now, whereClause: "p.name = ? OR p.public_key = ?", arguments: [nameOrKey, nameOrKey]
            )
            guard let peer = matches.first(where: { $0.isLive(at: now) }) ?? matches.last else {
                throw RegistryError(
                    .notFound,
                    "no peer is named \"\(nameOrKey)\" or has that public key; `popctl peer list --all` shows them"
                )
            }
            return peer
        }
    }

    /// Records a new active peer with `address`, or the lowest free address of `pool`, skipping
    /// `reserved` (the PoP's own address). With `expiresAt`, the peer stops being live at that instant.
    public func addPeer(
        tenant tenantName: String, name: String, publicKey: Curve25519PublicKey, presharedKey: WireGuardPresharedKey?,
        pool: IPPrefix, reserved: Set<IPAddress>, address requested: IPAddress? = nil, expiresAt: Date? = nil,
        now: Date = Date()
    ) throws(RegistryError) -> Peer {
        try Names.validate(name, what: "peer")
        if let expiresAt, expiresAt <= now {
            throw RegistryError(
                .invalidArgument,
                "the expiry \(Self.timestamp(expiresAt)) is not in the future (now \(Self.timestamp(now))); "
                    + "give a later time or a duration"
            )
        }
        return try write(at: now) { db in
            let tenant = try Self.requireTenant(db, name: tenantName)
            let taken = "SELECT 1 AS taken FROM peers WHERE name = ? AND state = 'active'"
            if try db.row(taken, [name]) != nil {
                throw RegistryError(.duplicate, "a live peer named \"\(name)\" already exists; choose another --name")
            }
            try Self.requireUnusedKey(db, publicKey)
            let address: IPAddress
            if let requested {
                address = try Self.requireFreeAddress(db, requested, pool: pool, reserved: reserved)
            } else {
                address = try Self.lowestFreeAddress(db, pool: pool, reserved: reserved)
            }
            let inserted = try db.row(
                """
                INSERT INTO peers (tenant_id, name, public_key, address, preshared_key, state, created_at, expires_at)
                VALUES (?, ?, ?, ?, ?, 'active', ?, ?)
                RETURNING id
                """,
                [
                    tenant.id, name, publicKey.base64, address.description, presharedKey?.base64Secret(),
                    now.timeIntervalSince1970, expiresAt?.timeIntervalSince1970,
                ]
            )
            return Peer(
                id: try inserted?.int64("id") ?? 0, tenantID: tenant.id, tenantName: tenant.name, name: name,
                publicKey: publicKey, address: address, presharedKey: presharedKey, state: .active, createdAt: now,
                expiresAt: expiresAt
            )
        }
    }

    /// Revokes the live peer with this name or base64 public key; a pending rotation goes with it.
    @discardableResult
    public func revokePeer(_ nameOrKey: String, now: Date = Date()) throws(RegistryError) -> Peer {
        try write(at: now) { db in
            let peer = try Self.requireLivePeer(db, nameOrKey, now: now)
            try db.execute(
                """
                UPDATE peers SET state = 'revoked', revoked_at = ?, pending_public_key = NULL,
                       pending_preshared_key = NULL, rotation_started_at = NULL, rotation_deadline = NULL
                WHERE id = ?
                """,
                [now.timeIntervalSince1970, peer.id]
            )
            return Peer(
                id: peer.id, tenantID: peer.tenantID, tenantName: peer.tenantName, name: peer.name,
                publicKey: peer.publicKey, address: peer.address, presharedKey: nil, state: .revoked,
                createdAt: peer.createdAt, expiresAt: peer.expiresAt
            )
        }
    }

    // MARK: Helpers shared by peer changes

    /// The lowest address of `pool` that no live peer holds and `reserved` does not name.
    static func lowestFreeAddress(
        _ db: any RegistryTransaction, pool: IPPrefix, reserved: Set<IPAddress>
    ) throws -> IPAddress {
        let used = Set(try db.strings("SELECT address FROM peers WHERE state = 'active'").compactMap(IPAddress.init))
        guard let free = pool.clientAddresses.lowest(notIn: used.union(reserved)) else {
            throw RegistryError(
                .poolExhausted,
                "the address pool \(pool) is exhausted (\(used.count) live peers); "
                    + "revoke unused peers or widen wireguard.pool"
            )
        }
        return free
    }

    /// `address` if a new peer may have it: a client address of `pool`, not reserved, and held by no
    /// live peer (WireGuard routes each address to one peer: two holders would steal each other's traffic).
    static func requireFreeAddress(
        _ db: any RegistryTransaction, _ address: IPAddress, pool: IPPrefix, reserved: Set<IPAddress>
    ) throws -> IPAddress {
        guard pool.clientAddresses.contains(address) else {
            throw RegistryError(
                .invalidArgument,
                "\(address) is not a client address of the pool \(pool) (wireguard.pool); choose one inside it, "
                    + "or leave --address out to get the lowest free one"
            )
        }
        if reserved.contains(address) {
            throw RegistryError(.duplicate, "\(address) is the PoP's own tunnel address; choose another --address")
        }
        let holder = try db.strings("SELECT name FROM peers WHERE state = 'active' AND address = ?", [address.description])
        if let holder = holder.first {
            throw RegistryError(
                .duplicate,
                "\(address) already belongs to live peer \"\(holder)\"; peers' allowed IPs must not overlap, so "
                    + "choose another --address or leave it out"
            )
        }
        return address
    }

    /// The live peer named `nameOrKey` or holding that current public key (base64).
    static func requireLivePeer(_ db: any RegistryTransaction, _ nameOrKey: String, now: Date) throws -> Peer {
        let matches = try PeerRows.fetch(
            db, now: now, whereClause: "\(PeerRows.live) AND (p.name = ? OR p.public_key = ?)",
            arguments: [now.timeIntervalSince1970, nameOrKey, nameOrKey]
        )
        guard let peer = matches.first else {
            throw RegistryError(
                .notFound,
                "no live peer is named \"\(nameOrKey)\" or has that public key; `popctl peer list` shows them"
            )
        }
        return peer
    }

    /// Refuses a key that a live peer holds or is rotating to (a pending key becomes current later,
    /// and two live peers must never share one). `exceptPendingOf` allows a peer's own pending key.
    static func requireUnusedKey(
        _ db: any RegistryTransaction, _ key: Curve25519PublicKey, exceptPendingOf peerID: Int64? = nil
    ) throws {
        // Two searches, not one OR: SQLite answers the OR by scanning every live peer, which made
        // registering 10,000 peers quadratic; each half here is one lookup in its partial index.
        let holders = try db.strings(
            """
            SELECT name FROM peers WHERE state = 'active' AND public_key = ?
            UNION ALL
            SELECT name FROM peers WHERE state = 'active' AND pending_public_key IS NOT NULL
              AND pending_public_key = ? AND id IS DISTINCT FROM ?
            LIMIT 1
            """,
            [key.base64, key.base64, peerID]
        )
        if let holder = holders.first {
            throw RegistryError(
                .duplicate,
                "public key \(key) already belongs to live peer \"\(holder)\"; each device needs its own key"
            )
        }
    }

    static func timestamp(_ date: Date) -> String {
        ISO8601DateFormatter().string(from: date)
    }
}
