import Addressing
import Foundation
import GRDB
import Sodium

/// The registry on SQLite: tenants, peers, API keys, and the revision counter daemons follow.
///
/// Opened in WAL mode so `popctl` can write while both daemons read. Every mutating method is
/// one transaction: it either changes everything it says or nothing. Methods that depend on the
/// time take `now`, so expiry and rotation are tested without waiting.
public final class RegistryStore: Sendable {
    private let pool: DatabasePool
    /// The database file.
    public let path: String

    /// Opens (creating if needed, with mode 0600) and migrates the database at `path`.
    public init(path: String) throws(RegistryError) {
        self.path = path
        do {
            let directory = (path as NSString).deletingLastPathComponent
            if !directory.isEmpty {
                try FileManager.default.createDirectory(
                    atPath: directory, withIntermediateDirectories: true, attributes: [.posixPermissions: 0o750]
                )
            }
            var configuration = Configuration()
            configuration.busyMode = .timeout(5)
            configuration.foreignKeysEnabled = true
            let previousMask = umask(0o077)
            defer { umask(previousMask) }
            pool = try DatabasePool(path: path, configuration: configuration)
            try Schema.migrator.migrate(pool)
        } catch {
            throw RegistryError(
                .storage, "cannot open the registry at \(path): \(error); check the path and its permissions"
            )
        }
    }

    // MARK: Reading

    /// The current revision; it changes whenever anything in the registry changes.
    public func revision() throws(RegistryError) -> Int64 {
        try read { db in try Int64.fetchOne(db, sql: "SELECT revision FROM registry_revision WHERE id = 1") ?? 0 }
    }

    /// Peers and keys live at `now`, at one consistent revision.
    public func snapshot(at now: Date = Date()) throws(RegistryError) -> RegistrySnapshot {
        try read { db in
            let revision = try Self.currentRevision(db)
            let peers = try PeerRows.fetch(
                db, now: now, whereClause: PeerRows.live, arguments: [now.timeIntervalSince1970]
            )
            return RegistrySnapshot(revision: revision, peers: peers, apiKeys: try Self.liveAPIKeys(db))
        }
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
            let changed = try PeerRows.fetch(
                db, now: now, whereClause: "p.changed_revision > ?", arguments: [previous.revision]
            )
            return previous.updating(
                revision: revision, changedPeers: changed, apiKeys: try Self.liveAPIKeys(db), now: now
            )
        }
    }

    private static func currentRevision(_ db: Database) throws -> Int64 {
        try Int64.fetchOne(db, sql: "SELECT revision FROM registry_revision WHERE id = 1") ?? 0
    }

    /// Keys are few (a handful per tenant) and change rarely: always read whole.
    private static func liveAPIKeys(_ db: Database) throws -> [APIKeyRecord] {
        try Row.fetchAll(
            db, sql: "SELECT key_id, tenant_id, secret_hash, default_tier FROM api_keys WHERE revoked_at IS NULL"
        ).map { row in
            APIKeyRecord(
                keyID: row["key_id"], tenantID: row["tenant_id"], secretHash: [UInt8](row["secret_hash"] as Data),
                defaultTier: Tier(rawValue: row["default_tier"]) ?? .medium
            )
        }
    }

    // MARK: Helpers

    func read<T: Sendable>(_ body: @Sendable (Database) throws -> T) throws(RegistryError) -> T {
        do { return try pool.read(body) } catch { throw Self.wrap(error) }
    }

    /// One write transaction, announced to the followers (``RegistryChangeSignal``) once committed.
    /// It first records as 'expired' the peers whose time has passed at
    /// `now`, so the live-only unique indexes let their name, key and address be used again.
    func write<T: Sendable>(at now: Date, _ body: @Sendable (Database) throws -> T) throws(RegistryError) -> T {
        let result: T
        do {
            result = try pool.write { db in
                try db.execute(
                    sql: """
                        UPDATE peers SET state = 'expired', pending_public_key = NULL, pending_preshared_key = NULL,
                               rotation_started_at = NULL, rotation_deadline = NULL
                        WHERE state = 'active' AND expires_at IS NOT NULL AND expires_at <= ?
                        """,
                    arguments: [now.timeIntervalSince1970]
                )
                return try body(db)
            }
        } catch {
            throw Self.wrap(error)
        }
        // After the commit is visible, so a follower woken by it reads the new revision.
        RegistryChangeSignal.announce(databasePath: path)
        return result
    }

    private static func wrap(_ error: any Error) -> RegistryError {
        if let error = error as? RegistryError { return error }
        return RegistryError(.storage, "registry operation failed: \(error)")
    }
}
