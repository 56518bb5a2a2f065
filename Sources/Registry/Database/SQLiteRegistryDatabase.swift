import Foundation
import GRDB
import GRDBSQLite

/// The registry on one machine: a SQLite file through GRDB, in WAL mode so `popctl` writes while
/// both daemons read. SQLite runs one write transaction at a time per file, which is the
/// serialisation ``RegistryDatabase/write(_:)`` promises.
final class SQLiteRegistryDatabase: RegistryDatabase {
    private let pool: DatabasePool
    let path: String

    /// Opens (creating if needed, with mode 0600) and migrates the database at `path`; with
    /// `readOnly`, opens an existing database for reading only, and refuses one whose schema is not
    /// the current one (migrating is left to the processes that write).
    init(path: String, readOnly: Bool = false) throws(RegistryError) {
        self.path = path
        do {
            var configuration = Configuration()
            configuration.busyMode = .timeout(5)
            configuration.foreignKeysEnabled = true
            if readOnly {
                guard FileManager.default.fileExists(atPath: path) else {
                    throw RegistryError(
                        .storage, "the registry at \(path) does not exist yet; popnetd and popctl create it (start popnetd first)"
                    )
                }
                configuration.readonly = true
                pool = try DatabasePool(path: path, configuration: configuration)
            } else {
                // Persistent WAL: the -wal and -shm files stay when the last writer closes, so popgated,
                // which may only read the directory, can always open the database (a read-only
                // connection cannot create them). They take the database file's owner and mode.
                configuration.prepareDatabase { db in
                    var persist: CInt = 1
                    let code = sqlite3_file_control(db.sqliteConnection, nil, SQLITE_FCNTL_PERSIST_WAL, &persist)
                    guard code == SQLITE_OK else { throw DatabaseError(resultCode: ResultCode(rawValue: code)) }
                }
                let directory = (path as NSString).deletingLastPathComponent
                if !directory.isEmpty {
                    try FileManager.default.createDirectory(
                        atPath: directory, withIntermediateDirectories: true, attributes: [.posixPermissions: 0o750]
                    )
                }
                let previousMask = umask(0o077)
                defer { umask(previousMask) }
                pool = try DatabasePool(path: path, configuration: configuration)
                try SQLiteSchema.migrator.migrate(pool)
            }
        } catch let error as RegistryError {
            throw error
        } catch {
            throw RegistryError(
                .storage, "cannot open the registry at \(path): \(error); check the path and its permissions"
            )
        }
        if readOnly {
            let current: Bool
            do { current = try pool.read { db in try SQLiteSchema.migrator.hasCompletedMigrations(db) } } catch {
                throw RegistryError(.storage, "cannot read the registry at \(path): \(error); check its permissions")
            }
            guard current else {
                throw RegistryError(
                    .storage,
                    "the registry at \(path) has an older schema; start popnetd or run any popctl command once "
                        + "to migrate it"
                )
            }
        }
    }

    var location: String { path }

    func read<T: Sendable>(_ body: (any RegistryTransaction) throws -> T) throws -> T {
        try withoutActuallyEscaping(body) { body in
            try pool.read { db in try body(SQLiteTransaction(db: db)) }
        }
    }

    func write<T: Sendable>(_ body: (any RegistryTransaction) throws -> T) throws -> T {
        try withoutActuallyEscaping(body) { body in
            try pool.write { db in try body(SQLiteTransaction(db: db)) }
        }
    }

    func announceCommit() { RegistryChangeSignal.announce(databasePath: path) }

    func makeChangeSignal() -> (any RegistryChangeWaiting)? { RegistryChangeSignal(databasePath: path) }
}

/// A GRDB transaction. Every statement is cached by its text: preparing one (with the revision
/// triggers of an INSERT) costs more than running it, and a bulk import runs the same few per row.
private struct SQLiteTransaction: RegistryTransaction {
    let db: Database

    func execute(_ sql: String, _ arguments: [any SQLBindable]) throws {
        try translatingConstraints { try db.cachedStatement(sql: sql).execute(arguments: Self.arguments(arguments)) }
    }

    func rows(_ sql: String, _ arguments: [any SQLBindable]) throws -> [SQLRow] {
        try translatingConstraints {
            try Row.fetchAll(db.cachedStatement(sql: sql), arguments: Self.arguments(arguments)).map(Self.row)
        }
    }

    func savepoint(_ body: () throws -> Void) throws {
        try withoutActuallyEscaping(body) { body in
            try db.inSavepoint {
                try body()
                return .commit
            }
        }
    }

    private func translatingConstraints<T>(_ body: () throws -> T) throws -> T {
        do {
            return try body()
        } catch let error as DatabaseError where error.resultCode == .SQLITE_CONSTRAINT {
            throw SQLConstraintViolation(description: error.message ?? "\(error)")
        } catch let error as DatabaseError {
            throw SQLFailure(description: "\(error)")
        }
    }

    private static func arguments(_ values: [any SQLBindable]) -> StatementArguments {
        StatementArguments(values.map { value -> (any DatabaseValueConvertible)? in
            switch value.sqlValue {
            case .null: nil
            case .integer(let number): number
            case .real(let number): number
            case .text(let text): text
            case .blob(let bytes): Data(bytes)
            }
        })
    }

    private static func row(_ row: Row) -> SQLRow {
        var values: [String: SQLValue] = [:]
        for (column, value) in row {
            switch value.storage {
            case .null: values[column] = .null
            case .int64(let number): values[column] = .integer(number)
            case .double(let number): values[column] = .real(number)
            case .string(let text): values[column] = .text(text)
            case .blob(let data): values[column] = .blob([UInt8](data))
            }
        }
        return SQLRow(values)
    }
}
