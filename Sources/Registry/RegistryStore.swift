import Addressing
import Foundation
import RegistryLocations
import Sodium

/// The registry: tenants, peers, API keys, and the revision counter daemons follow.
///
/// One implementation of the rules over either engine (``RegistryDatabase``): a SQLite file for one
/// PoP, PostgreSQL for a fleet. Every mutating method is one transaction: it either changes
/// everything it says or nothing. Methods that depend on the time take `now`, so expiry and
/// rotation are tested without waiting.
public final class RegistryStore: Sendable {
    private let database: any RegistryDatabase
    /// Where the registry is.
    public let location: RegistryLocation

    /// Opens the registry at `location`. A SQLite file is created if needed and migrated now; a
    /// PostgreSQL server is connected to (and migrated) by the first read or write, so a daemon can
    /// start while it is unreachable. With `readOnly`, a SQLite file is only read: it must exist
    /// with the current schema (popgated, which never writes the registry, opens it so, as a user
    /// the file is only readable by).
    public init(location: RegistryLocation, readOnly: Bool = false) throws(RegistryError) {
        self.location = location
        switch location {
        case .sqlite(let path): database = try SQLiteRegistryDatabase(path: path, readOnly: readOnly)
        case .postgres(let postgres): database = PostgresRegistryDatabase(postgres)
        }
    }

    /// Opens (creating if needed, with mode 0600) and migrates the SQLite registry at `path`.
    public convenience init(path: String) throws(RegistryError) {
        try self.init(location: .sqlite(path: path))
    }

    /// Something that wakes a follower when another process commits, or nil when only polling works.
    public func makeChangeSignal() -> (any RegistryChangeWaiting)? { database.makeChangeSignal() }

    // MARK: Reading

    /// The current revision; it changes whenever anything in the registry changes.
    public func revision() throws(RegistryError) -> Int64 {
        try read { db in try Self.currentRevision(db) }
    }

    /// Peers and keys live at `now`, at one consistent revision.
    public func snapshot(at now: Date = Date()) throws(RegistryError) -> RegistrySnapshot {
        try read { db in try Self.fullSnapshot(db, revision: try Self.currentRevision(db), now: now) }
    }

    private static func fullSnapshot(_ db: any RegistryTransaction, revision: Int64, now: Date) throws
        -> RegistrySnapshot
    {
        let peers = try PeerRows.fetch(db, now: now, whereClause: PeerRows.live, arguments: [now.timeIntervalSince1970])
        return RegistrySnapshot(revision: revision, peers: peers, apiKeys: try liveAPIKeys(db))
    }

    /// `previous` brought up to date at `now`, reading only the peers changed since its revision
    /// (the change feed: every peer row carries the revision of its last change). What a daemon
    /// calls when the revision moved: with 10,000 peers a full ``snapshot(at:)`` reads and decodes
    /// every row, this one the changed rows.
    public func snapshot(updating previous: RegistrySnapshot, at now: Date = Date()) throws(RegistryError)
        -> RegistrySnapshot
    {
        guard previous.revision >= 0 else { return try snapshot(at: now) }
        return try read { db in
            let revision = try Self.currentRevision(db)
            guard revision != previous.revision else { return previous.pruned(at: now) }
            // A database restored from an older backup: the stamps no longer tell what changed.
            guard revision > previous.revision else { return try Self.fullSnapshot(db, revision: revision, now: now) }
            let changed = try PeerRows.fetch(
                db, now: now, whereClause: "p.changed_revision > ?", arguments: [previous.revision]
            )
            return previous.updating(
                revision: revision, changedPeers: changed, apiKeys: try Self.liveAPIKeys(db), now: now
            )
        }
    }

    private static func currentRevision(_ db: any RegistryTransaction) throws -> Int64 {
        try db.row("SELECT revision FROM registry_revision WHERE id = 1")?.int64("revision") ?? 0
    }

    /// Keys are few (a handful per tenant) and change rarely: always read whole.
    private static func liveAPIKeys(_ db: any RegistryTransaction) throws -> [APIKeyRecord] {
        try db.rows(
            """
            SELECT key_id, tenant_id, secret_hash, default_tier, requests_per_minute, tokens_per_minute
            FROM api_keys WHERE revoked_at IS NULL
            """
        ).map { row in
            APIKeyRecord(
                keyID: try row.string("key_id"), tenantID: try row.int64("tenant_id"),
                secretHash: try row.bytes("secret_hash"),
                defaultTier: Tier(rawValue: try row.string("default_tier")) ?? .medium, limits: try APIKeyLimits(row)
            )
        }
    }

    // MARK: Helpers

    func read<T: Sendable>(_ body: (any RegistryTransaction) throws -> T) throws(RegistryError) -> T {
        do { return try database.read(body) } catch { throw wrap(error) }
    }

    /// One write transaction, announced to the followers once committed. It first records as
    /// 'expired' the peers whose time has passed at `now`, so the live-only unique indexes let
    /// their name, key and address be used again.
    func write<T: Sendable>(at now: Date, _ body: (any RegistryTransaction) throws -> T) throws(RegistryError) -> T {
        let result: T
        do {
            result = try database.write { db in
                try db.execute(
                    """
                    UPDATE peers SET state = 'expired', pending_public_key = NULL, pending_preshared_key = NULL,
                           rotation_started_at = NULL, rotation_deadline = NULL
                    WHERE state = 'active' AND expires_at IS NOT NULL AND expires_at <= ?
                    """,
                    [now.timeIntervalSince1970]
                )
                return try body(db)
            }
        } catch {
            throw wrap(error)
        }
        // After the commit is visible, so a follower woken by it reads the new revision.
        database.announceCommit()
        return result
    }

    private func wrap(_ error: any Error) -> RegistryError {
        if let error = error as? RegistryError { return error }
        return RegistryError(.storage, "registry operation failed on \(database.location): \(error)")
    }
}
