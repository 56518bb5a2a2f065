import GRDB

/// The registry's versioned schema on SQLite. Migrations are append-only: never edit a shipped one, and
/// give every new one its PostgreSQL twin in ``PostgresSchema`` under the same name.
enum SQLiteSchema {
    static var migrator: DatabaseMigrator {
        var migrator = DatabaseMigrator()
        migrator.registerMigration("v1") { db in
            try db.execute(sql: """
                CREATE TABLE tenants (
                    id INTEGER PRIMARY KEY AUTOINCREMENT,
                    name TEXT NOT NULL UNIQUE,
                    created_at REAL NOT NULL
                );
                CREATE TABLE peers (
                    id INTEGER PRIMARY KEY AUTOINCREMENT,
                    tenant_id INTEGER NOT NULL REFERENCES tenants(id),
                    name TEXT NOT NULL,
                    public_key TEXT NOT NULL,
                    address TEXT NOT NULL,
                    preshared_key TEXT,
                    state TEXT NOT NULL CHECK (state IN ('active', 'revoked')),
                    created_at REAL NOT NULL,
                    revoked_at REAL
                );
                -- Names, keys and addresses are unique among live peers; a revoked peer's
                -- address returns to the pool.
                CREATE UNIQUE INDEX peers_active_name ON peers(name) WHERE state = 'active';
                CREATE UNIQUE INDEX peers_active_key ON peers(public_key) WHERE state = 'active';
                CREATE UNIQUE INDEX peers_active_address ON peers(address) WHERE state = 'active';
                CREATE TABLE api_keys (
                    id INTEGER PRIMARY KEY AUTOINCREMENT,
                    key_id TEXT NOT NULL UNIQUE,
                    tenant_id INTEGER NOT NULL REFERENCES tenants(id),
                    secret_hash BLOB NOT NULL,
                    default_tier TEXT NOT NULL,
                    created_at REAL NOT NULL,
                    revoked_at REAL
                );
                -- One counter that every change bumps, so daemons notice a change by reading
                -- one row instead of diffing tables.
                CREATE TABLE registry_revision (
                    id INTEGER PRIMARY KEY CHECK (id = 1),
                    revision INTEGER NOT NULL
                );
                INSERT INTO registry_revision (id, revision) VALUES (1, 0);
                """)
            for table in ["tenants", "peers", "api_keys"] {
                for event in ["INSERT", "UPDATE", "DELETE"] {
                    try db.execute(sql: """
                        CREATE TRIGGER \(table)_\(event.lowercased())_bumps_revision AFTER \(event) ON \(table)
                        BEGIN UPDATE registry_revision SET revision = revision + 1 WHERE id = 1; END;
                        """)
                }
            }
        }
        migrator.registerMigration("v2", migrate: migrateToV2)
        migrator.registerMigration("v3", migrate: migrateToV3)
        migrator.registerMigration("v4", migrate: migrateToV4)
        migrator.registerMigration("v5", migrate: migrateToV5)
        return migrator
    }

    /// Expiry and key rotation. SQLite cannot change a CHECK constraint in place, so the peers
    /// table is rebuilt (the documented 12-step way: new table, copy, drop, rename); its indexes
    /// and revision triggers go with the old table and are made again.
    ///
    /// 'expired' is stored by registry writes once a peer's time has passed, so the partial unique
    /// indexes (live peers only) free its name, key and address exactly as revocation does.
    /// Readers never wait for that write: they compare `expires_at` with the clock themselves.
    private static func migrateToV2(_ db: Database) throws {
        try db.execute(sql: """
            CREATE TABLE peers_v2 (
                id INTEGER PRIMARY KEY AUTOINCREMENT,
                tenant_id INTEGER NOT NULL REFERENCES tenants(id),
                name TEXT NOT NULL,
                public_key TEXT NOT NULL,
                address TEXT NOT NULL,
                preshared_key TEXT,
                state TEXT NOT NULL CHECK (state IN ('active', 'revoked', 'expired')),
                created_at REAL NOT NULL,
                revoked_at REAL,
                expires_at REAL,
                -- A pending rotation: the next key (and preshared key), when it was issued, and
                -- when it takes over even if it never connects. All or none are set.
                pending_public_key TEXT,
                pending_preshared_key TEXT,
                rotation_started_at REAL,
                rotation_deadline REAL,
                rotated_at REAL,
                CHECK ((pending_public_key IS NULL) = (rotation_started_at IS NULL)
                       AND (pending_public_key IS NULL) = (rotation_deadline IS NULL))
            );
            INSERT INTO peers_v2 (id, tenant_id, name, public_key, address, preshared_key, state, created_at,
                                  revoked_at)
                SELECT id, tenant_id, name, public_key, address, preshared_key, state, created_at, revoked_at
                FROM peers;
            -- Row ids are never reused, also across the rebuild: carry the counter over.
            DELETE FROM sqlite_sequence WHERE name = 'peers_v2';
            INSERT INTO sqlite_sequence (name, seq)
                SELECT 'peers_v2', seq FROM sqlite_sequence WHERE name = 'peers';
            DROP TABLE peers;
            ALTER TABLE peers_v2 RENAME TO peers;
            CREATE UNIQUE INDEX peers_active_name ON peers(name) WHERE state = 'active';
            CREATE UNIQUE INDEX peers_active_key ON peers(public_key) WHERE state = 'active';
            CREATE UNIQUE INDEX peers_active_address ON peers(address) WHERE state = 'active';
            CREATE UNIQUE INDEX peers_active_pending_key ON peers(pending_public_key)
                WHERE state = 'active' AND pending_public_key IS NOT NULL;
            -- Snapshots look for the next expiry among live peers.
            CREATE INDEX peers_active_expiry ON peers(expires_at) WHERE state = 'active' AND expires_at IS NOT NULL;
            """)
        for event in ["INSERT", "UPDATE", "DELETE"] {
            try db.execute(sql: """
                CREATE TRIGGER peers_\(event.lowercased())_bumps_revision AFTER \(event) ON peers
                BEGIN UPDATE registry_revision SET revision = revision + 1 WHERE id = 1; END;
                """)
        }
        // Running daemons reload once, with the new columns.
        try db.execute(sql: "UPDATE registry_revision SET revision = revision + 1 WHERE id = 1")
    }

    /// Every column of `peers` but `changed_revision`: the stamp trigger fires on these only, so its
    /// own write to `changed_revision` does not fire it again. A migration adding a column to
    /// `peers` must recreate the trigger with the new list.
    static let peerColumns = """
        tenant_id, name, public_key, address, preshared_key, state, created_at, revoked_at, expires_at,
        pending_public_key, pending_preshared_key, rotation_started_at, rotation_deadline, rotated_at
        """

    /// The change feed: every peer row carries the revision of its last change, so a follower
    /// reads only the rows changed since its snapshot instead of all of them (10,000 peers take
    /// about 150 ms to read and decode; one changed row well under a millisecond). Peers are never
    /// deleted (revoked and expired rows stay), so no change can hide in a missing row.
    private static func migrateToV3(_ db: Database) throws {
        try db.execute(sql: """
            ALTER TABLE peers ADD COLUMN changed_revision INTEGER NOT NULL DEFAULT 0;
            CREATE INDEX peers_changed ON peers(changed_revision);
            DROP TRIGGER peers_insert_bumps_revision;
            DROP TRIGGER peers_update_bumps_revision;
            DROP TRIGGER peers_delete_bumps_revision;
            CREATE TRIGGER peers_insert_bumps_revision AFTER INSERT ON peers BEGIN
                UPDATE registry_revision SET revision = revision + 1 WHERE id = 1;
                UPDATE peers SET changed_revision = (SELECT revision FROM registry_revision WHERE id = 1)
                WHERE id = NEW.id;
            END;
            CREATE TRIGGER peers_update_bumps_revision AFTER UPDATE OF \(peerColumns) ON peers BEGIN
                UPDATE registry_revision SET revision = revision + 1 WHERE id = 1;
                UPDATE peers SET changed_revision = (SELECT revision FROM registry_revision WHERE id = 1)
                WHERE id = NEW.id;
            END;
            CREATE TRIGGER peers_are_never_deleted BEFORE DELETE ON peers BEGIN
                SELECT RAISE(ABORT, 'peers are revoked, never deleted: the daemons follow changed rows');
            END;
            -- Every existing row counts as changed after the current revision, which then moves:
            -- a follower that kept a snapshot across the upgrade reads every row again.
            UPDATE peers SET changed_revision = (SELECT revision + 1 FROM registry_revision WHERE id = 1);
            UPDATE registry_revision SET revision = revision + 1 WHERE id = 1;
            """)
    }

    /// Tenant removal. A tenant is marked removed rather than deleted: its revoked peers (never
    /// deleted, see v3) and keys keep referring to it, and its name stays taken so a listing with
    /// `--all` never shows two tenants' history under one name. The tenants' revision trigger (v1)
    /// fires on any column, so the removal moves the revision like every other change.
    private static func migrateToV4(_ db: Database) throws {
        try db.execute(sql: "ALTER TABLE tenants ADD COLUMN removed_at REAL")
    }

    /// A key's own limits (``APIKeyLimits``), below its tier's; NULL keeps the tier's. The api_keys
    /// revision trigger (v1) fires on any column, as for every key change.
    private static func migrateToV5(_ db: Database) throws {
        try db.execute(sql: """
            ALTER TABLE api_keys ADD COLUMN requests_per_minute INTEGER CHECK (requests_per_minute > 0);
            ALTER TABLE api_keys ADD COLUMN tokens_per_minute INTEGER CHECK (tokens_per_minute > 0);
            """)
    }
}
