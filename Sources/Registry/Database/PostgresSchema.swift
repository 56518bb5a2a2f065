/// The registry's versioned schema on PostgreSQL: the same migrations as ``SQLiteSchema``, by the
/// same names, each in PostgreSQL's dialect.
///
/// PostgreSQL support arrived at schema v4, so no PostgreSQL registry was ever at v1 to v3: the first
/// migration creates v4 whole and records v1 to v4 as applied. Every later migration is written
/// twice, here and in ``SQLiteSchema``, under one name.
///
/// Migrating runs in one transaction under an advisory lock: PostgreSQL's DDL is transactional,
/// and two PoPs starting at once must not both migrate.
enum PostgresSchema {
    /// Migration names and their statements, in order. Statements are separate (the extended
    /// query protocol takes one at a time); never edit a shipped migration.
    static let migrations: [(names: [String], statements: [String])] = [
        (["v1", "v2", "v3", "v4"], baseline),
        // A key's own limits, below its tier's (SQLite's v5).
        (["v5"], [
            "ALTER TABLE api_keys ADD COLUMN requests_per_minute BIGINT CHECK (requests_per_minute > 0)",
            "ALTER TABLE api_keys ADD COLUMN tokens_per_minute BIGINT CHECK (tokens_per_minute > 0)",
        ]),
    ]

    /// An arbitrary constant that names "migrating the popgate registry" among advisory locks.
    private static let migrationLock: Int64 = 0x706f_7067_6174_6531

    static func migrate(_ transaction: PostgresTransaction) throws {
        try transaction.execute("BEGIN")
        do {
            try transaction.execute("SELECT pg_advisory_xact_lock(?)", [migrationLock])
            try transaction.execute(
                """
                CREATE TABLE IF NOT EXISTS registry_migrations (
                    identifier TEXT PRIMARY KEY, applied_at DOUBLE PRECISION NOT NULL
                )
                """
            )
            let applied = Set(try transaction.strings("SELECT identifier FROM registry_migrations"))
            for migration in migrations where !applied.isSuperset(of: migration.names) {
                for statement in migration.statements { try transaction.execute(statement) }
                for name in migration.names {
                    try transaction.execute(
                        "INSERT INTO registry_migrations (identifier, applied_at) VALUES (?, extract(epoch FROM now()))",
                        [name]
                    )
                }
            }
            try transaction.execute("COMMIT")
        } catch {
            try? transaction.execute("ROLLBACK")
            throw error
        }
    }

    /// Schema v4: tables, the live-only unique indexes, and the revision triggers of SQLite's v1 to v4.
    private static let baseline = [
        """
        CREATE TABLE tenants (
            id BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
            name TEXT NOT NULL UNIQUE,
            created_at DOUBLE PRECISION NOT NULL,
            removed_at DOUBLE PRECISION
        )
        """,
        """
        CREATE TABLE peers (
            id BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
            tenant_id BIGINT NOT NULL REFERENCES tenants(id),
            name TEXT NOT NULL,
            public_key TEXT NOT NULL,
            address TEXT NOT NULL,
            preshared_key TEXT,
            state TEXT NOT NULL CHECK (state IN ('active', 'revoked', 'expired')),
            created_at DOUBLE PRECISION NOT NULL,
            revoked_at DOUBLE PRECISION,
            expires_at DOUBLE PRECISION,
            pending_public_key TEXT,
            pending_preshared_key TEXT,
            rotation_started_at DOUBLE PRECISION,
            rotation_deadline DOUBLE PRECISION,
            rotated_at DOUBLE PRECISION,
            changed_revision BIGINT NOT NULL DEFAULT 0,
            CHECK ((pending_public_key IS NULL) = (rotation_started_at IS NULL)
                   AND (pending_public_key IS NULL) = (rotation_deadline IS NULL))
        )
        """,
        "CREATE UNIQUE INDEX peers_active_name ON peers(name) WHERE state = 'active'",
        "CREATE UNIQUE INDEX peers_active_key ON peers(public_key) WHERE state = 'active'",
        "CREATE UNIQUE INDEX peers_active_address ON peers(address) WHERE state = 'active'",
        """
        CREATE UNIQUE INDEX peers_active_pending_key ON peers(pending_public_key)
            WHERE state = 'active' AND pending_public_key IS NOT NULL
        """,
        "CREATE INDEX peers_active_expiry ON peers(expires_at) WHERE state = 'active' AND expires_at IS NOT NULL",
        "CREATE INDEX peers_changed ON peers(changed_revision)",
        """
        CREATE TABLE api_keys (
            id BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
            key_id TEXT NOT NULL UNIQUE,
            tenant_id BIGINT NOT NULL REFERENCES tenants(id),
            secret_hash BYTEA NOT NULL,
            default_tier TEXT NOT NULL,
            created_at DOUBLE PRECISION NOT NULL,
            revoked_at DOUBLE PRECISION
        )
        """,
        "CREATE TABLE registry_revision (id INTEGER PRIMARY KEY CHECK (id = 1), revision BIGINT NOT NULL)",
        "INSERT INTO registry_revision (id, revision) VALUES (1, 0)",
        """
        CREATE FUNCTION registry_bump_revision() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN
            UPDATE registry_revision SET revision = revision + 1 WHERE id = 1;
            RETURN NULL;
        END $$
        """,
        """
        CREATE TRIGGER tenants_bump_revision AFTER INSERT OR UPDATE OR DELETE ON tenants
            FOR EACH ROW EXECUTE FUNCTION registry_bump_revision()
        """,
        """
        CREATE TRIGGER api_keys_bump_revision AFTER INSERT OR UPDATE OR DELETE ON api_keys
            FOR EACH ROW EXECUTE FUNCTION registry_bump_revision()
        """,
        // The change feed (SQLite's v3): a peer row carries the revision of its last change. A BEFORE
        // trigger sets the stamp in the row being written, so it cannot fire itself again.
        """
        CREATE FUNCTION peers_stamp_revision() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN
            UPDATE registry_revision SET revision = revision + 1 WHERE id = 1
                RETURNING revision INTO NEW.changed_revision;
            RETURN NEW;
        END $$
        """,
        """
        CREATE TRIGGER peers_stamp_revision BEFORE INSERT OR UPDATE ON peers
            FOR EACH ROW EXECUTE FUNCTION peers_stamp_revision()
        """,
        """
        CREATE FUNCTION peers_refuse_delete() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN
            RAISE EXCEPTION 'peers are revoked, never deleted: the daemons follow changed rows';
        END $$
        """,
        """
        CREATE TRIGGER peers_are_never_deleted BEFORE DELETE ON peers
            FOR EACH ROW EXECUTE FUNCTION peers_refuse_delete()
        """,
    ]
}
