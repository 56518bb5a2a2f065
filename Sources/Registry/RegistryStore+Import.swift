import Addressing
import Foundation
import Sodium

/// One peer of a bulk registration (``RegistryStore/addPeers(_:pool:reserved:now:deliver:)``).
public struct NewPeer: Sendable {
    /// The tenant the device belongs to.
    public let tenant: String
    /// The peer's name: unique among live peers.
    public let name: String
    /// The client's public key.
    public let publicKey: Curve25519PublicKey
    /// The preshared key, when the PoP uses them.
    public let presharedKey: WireGuardPresharedKey?
    /// When the peer stops being live, or nil for never.
    public let expiresAt: Date?

    /// Creates a request.
    public init(
        tenant: String, name: String, publicKey: Curve25519PublicKey, presharedKey: WireGuardPresharedKey?,
        expiresAt: Date?
    ) {
        self.tenant = tenant
        self.name = name
        self.publicKey = publicKey
        self.presharedKey = presharedKey
        self.expiresAt = expiresAt
    }
}

extension RegistryStore {
    /// Registers `requests` in one write transaction, each row in its own savepoint: a row is
    /// recorded whole or not at all, and a refused row (unknown tenant, taken name or key, past
    /// expiry, exhausted pool, or `deliver` throwing) leaves the others alone. Returns one result per
    /// request, in order.
    ///
    /// `deliver` runs inside the row's savepoint once the row is written, so a config that cannot be
    /// handed over takes its peer back out with it. If the transaction as a whole fails (the
    /// storage, not a row), it throws and nothing of the batch is recorded; `deliver` may already
    /// have run for some rows then, and the caller undoes what it delivered.
    ///
    /// One transaction per batch rather than per peer because a commit (an fsync and a follower
    /// wake-up) costs far more than checking and inserting a row.
    public func addPeers(
        _ requests: [NewPeer], pool: IPPrefix, reserved: Set<IPAddress>, now: Date = Date(),
        deliver: @escaping @Sendable (Int, Peer) throws -> Void = { _, _ in }
    ) throws(RegistryError) -> [Result<Peer, RegistryError>] {
        try write(at: now) { db in
            let addresses = try db.strings("SELECT address FROM peers WHERE state = 'active'")
            var used = Set(addresses.compactMap(IPAddress.init)).union(reserved)
            let hosts = pool.clientAddresses
            // Addresses below the cursor are taken: a batch only adds, so each row searches on from the
            // last one instead of from the start of the pool.
            var cursor: UInt64 = 0
            var tenants: [String: Tenant] = [:]
            var results: [Result<Peer, RegistryError>] = []
            results.reserveCapacity(requests.count)
            for (index, request) in requests.enumerated() {
                var added: Peer?
                do {
                    try db.savepoint {
                        added = try Self.insert(
                            db, request, tenants: &tenants, hosts: hosts, cursor: &cursor, used: used, pool: pool,
                            now: now
                        )
                        try deliver(index, added!)
                    }
                    used.insert(added!.address)
                    results.append(.success(added!))
                } catch let error as RegistryError {
                    results.append(.failure(error))
                } catch let error as SQLConstraintViolation {
                    results.append(.failure(RegistryError(.duplicate, "refused by the registry: \(error)")))
                } catch let error as SQLFailure {
                    throw error
                } catch {
                    results.append(.failure(RegistryError(.invalidArgument, "\(error)")))
                }
            }
            return results
        }
    }

    /// The checks and insert of ``addPeer(tenant:name:publicKey:presharedKey:pool:reserved:expiresAt:now:)``
    /// for one row of a batch, with the tenants and free addresses remembered across rows.
    private static func insert(
        _ db: any RegistryTransaction, _ request: NewPeer, tenants: inout [String: Tenant], hosts: ClientAddresses,
        cursor: inout UInt64,
        used: Set<IPAddress>, pool: IPPrefix, now: Date
    ) throws -> Peer {
        try Names.validate(request.name, what: "peer")
        if let expiresAt = request.expiresAt, expiresAt <= now {
            throw RegistryError(
                .invalidArgument,
                "the expiry \(timestamp(expiresAt)) is not in the future (now \(timestamp(now))); "
                    + "give a later time or a duration"
            )
        }
        let tenant: Tenant
        if let known = tenants[request.tenant] {
            tenant = known
        } else {
            tenant = try requireTenant(db, name: request.tenant)
            tenants[request.tenant] = tenant
        }
        if try db.row("SELECT 1 AS taken FROM peers WHERE name = ? AND state = 'active'", [request.name]) != nil {
            throw RegistryError(.duplicate, "a live peer named \"\(request.name)\" already exists; choose another name")
        }
        try requireUnusedKey(db, request.publicKey)
        while let candidate = hosts.address(at: cursor), used.contains(candidate) { cursor += 1 }
        guard let address = hosts.address(at: cursor) else {
            throw RegistryError(
                .poolExhausted,
                "the address pool \(pool) is exhausted; revoke unused peers or widen wireguard.pool"
            )
        }
        let inserted = try db.row(
            """
            INSERT INTO peers (tenant_id, name, public_key, address, preshared_key, state, created_at, expires_at)
            VALUES (?, ?, ?, ?, ?, 'active', ?, ?)
            RETURNING id
            """,
            [
                tenant.id, request.name, request.publicKey.base64, address.description,
                request.presharedKey?.base64Secret(), now.timeIntervalSince1970,
                request.expiresAt?.timeIntervalSince1970,
            ]
        )
        return Peer(
            id: try inserted?.int64("id") ?? 0, tenantID: tenant.id, tenantName: tenant.name, name: request.name,
            publicKey: request.publicKey, address: address, presharedKey: request.presharedKey, state: .active,
            createdAt: now, expiresAt: request.expiresAt
        )
    }
}
