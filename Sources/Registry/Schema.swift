import GRDB

/// The registry's versioned schema. Migrations are append-only: never edit a shipped one.
enum Schema {
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
        return migrator
    }
}
