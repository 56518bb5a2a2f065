import Foundation
import Logging
import NIOConcurrencyHelpers
import NIOCore
import NIOPosix
import NIOSSL
import PostgresNIO
import RegistryLocations

/// The registry of a fleet: PostgreSQL through postgres-nio, shared by every PoP and `popctl`.
///
/// The store's API is synchronous (SQLite's is, and a registry change is a handful of statements),
/// so this engine keeps one connection on an event loop thread of its own and waits for each
/// statement from the caller's thread. The connection is opened (and the schema migrated) on first
/// use and again after it is lost, so a PoP started while the database is down comes up on its
/// local copy of the registry and catches up by itself.
///
/// Write transactions take the revision row's lock first: PostgreSQL then runs them one at a time
/// across all PoPs, as SQLite does on one machine, and the revision stamps on peer rows follow
/// commit order (what the change feed relies on). Each write ends with a NOTIFY on
/// ``notificationChannel``, which PostgreSQL delivers to listeners only if it commits.
final class PostgresRegistryDatabase: RegistryDatabase, @unchecked Sendable {
    /// The LISTEN/NOTIFY channel every committed registry write is announced on.
    static let notificationChannel = "popgate_registry"

    let postgres: PostgresLocation
    private let group = MultiThreadedEventLoopGroup(numberOfThreads: 1)
    private let logger = Logger(label: "popgate.registry.postgres", factory: { _ in SwiftLogNoOpLogHandler() })
    private let lock = NIOLock()
    private var connection: PostgresConnection?  // guarded by `lock`
    private var migrated = false  // guarded by `lock`

    /// An engine for the server at `postgres`; nothing is connected before the first transaction.
    init(_ postgres: PostgresLocation) {
        self.postgres = postgres
    }

    deinit {
        _ = try? connection?.close().wait()
        try? group.syncShutdownGracefully()
    }

    var location: String { postgres.description }

    func read<T: Sendable>(_ body: (any RegistryTransaction) throws -> T) throws -> T {
        // One snapshot for every statement: a listing and the revision it reports agree.
        try transaction(begin: "BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY", body)
    }

    func write<T: Sendable>(_ body: (any RegistryTransaction) throws -> T) throws -> T {
        try transaction(begin: "BEGIN") { transaction in
            try transaction.execute("SELECT revision FROM registry_revision WHERE id = 1 FOR UPDATE")
            let result = try body(transaction)
            try transaction.execute("SELECT pg_notify('\(Self.notificationChannel)', '')")
            return result
        }
    }

    func announceCommit() {}

    func makeChangeSignal() -> (any RegistryChangeWaiting)? {
        PostgresChangeSignal { [self] in
            try await PostgresConnection.connect(
                on: group.next(), configuration: try configuration(), id: 2, logger: logger
            )
        }
    }

    private func transaction<T>(begin: String, _ body: (any RegistryTransaction) throws -> T) throws -> T {
        try lock.withLock {
            let transaction: PostgresTransaction
            do {
                transaction = PostgresTransaction(connection: try connected(), logger: logger)
                try transaction.execute(begin)
            } catch {
                throw describe(error)
            }
            do {
                let result = try body(transaction)
                try transaction.execute("COMMIT")
                return result
            } catch {
                if transaction.connection.isClosed {
                    connection = nil
                    throw describe(error)
                }
                do {
                    try transaction.execute("ROLLBACK")
                } catch {
                    // A connection that cannot roll back would start the next transaction inside this one.
                    _ = try? transaction.connection.close().wait()
                    connection = nil
                }
                throw error
            }
        }
    }

    /// The open connection, or a new one on an up-to-date schema. Called with `lock` held.
    private func connected() throws -> PostgresConnection {
        if let connection, !connection.isClosed { return connection }
        connection = nil
        let opened = try PostgresConnection.connect(
            on: group.next(), configuration: try configuration(), id: 1, logger: logger
        ).wait()
        if !migrated {
            do {
                try PostgresSchema.migrate(PostgresTransaction(connection: opened, logger: logger))
            } catch {
                _ = try? opened.close().wait()
                throw error
            }
            migrated = true
        }
        connection = opened
        return opened
    }

    private func configuration() throws -> PostgresConnection.Configuration {
        var configuration = PostgresConnection.Configuration(
            host: postgres.host, port: postgres.port, username: postgres.user, password: try postgres.password(),
            database: postgres.database,
            tls: postgres.requireTLS ? .require(try NIOSSLContext(configuration: .makeClientConfiguration())) : .disable
        )
        configuration.options.connectTimeout = .seconds(3)
        // A statement or transaction that hangs must not hold the revision lock (and so every other
        // PoP's writes) for long.
        configuration.options.additionalStartupParameters = [
            ("application_name", "popgate"), ("statement_timeout", "10000"),
            ("idle_in_transaction_session_timeout", "30000"),
        ]
        return configuration
    }

    /// A failure to reach or keep the server, said so an operator knows where to look.
    private func describe(_ error: any Error) -> RegistryError {
        if let error = error as? RegistryError { return error }
        return RegistryError(
            .storage,
            "cannot use the registry database \(postgres): \(PostgresTransaction.explain(error)); check that "
                + "PostgreSQL runs on \(postgres.host) port \(postgres.port), that pg_hba.conf admits user "
                + "\(postgres.user) from this host to database \(postgres.database), and that no firewall is in between"
        )
    }
}

/// One transaction on the engine's connection. `?` placeholders become `$1`, `$2`, … here.
struct PostgresTransaction: RegistryTransaction {
    let connection: PostgresConnection
    let logger: Logger

    func execute(_ sql: String, _ arguments: [any SQLBindable]) throws {
        _ = try run(sql, arguments)
    }

    func rows(_ sql: String, _ arguments: [any SQLBindable]) throws -> [SQLRow] {
        try run(sql, arguments).rows.map(Self.row)
    }

    func savepoint(_ body: () throws -> Void) throws {
        try execute("SAVEPOINT row")
        do {
            try body()
        } catch {
            // After an error PostgreSQL refuses every statement until the savepoint is rolled back.
            try execute("ROLLBACK TO SAVEPOINT row")
            try execute("RELEASE SAVEPOINT row")
            throw error
        }
        try execute("RELEASE SAVEPOINT row")
    }

    private func run(_ sql: String, _ arguments: [any SQLBindable]) throws -> PostgresQueryResult {
        var binds = PostgresBindings(capacity: arguments.count)
        for argument in arguments {
            switch argument.sqlValue {
            case .null: binds.appendNull()
            case .integer(let number): binds.append(number)
            case .real(let number): binds.append(number)
            case .text(let text): binds.append(text)
            case .blob(let bytes): try binds.append(Data(bytes))
            }
        }
        let query = PostgresQuery(unsafeSQL: PostgresPlaceholders.number(sql), binds: binds)
        do {
            return try connection.query(query, logger: logger).wait()
        } catch let error as PSQLError where error.serverInfo?[.sqlState]?.hasPrefix("23") == true {
            // SQLSTATE class 23: integrity constraint violation (unique, check, foreign key).
            throw SQLConstraintViolation(description: Self.explain(error))
        } catch {
            throw SQLFailure(description: Self.explain(error))
        }
    }

    private static func row(_ row: PostgresRow) throws -> SQLRow {
        var values: [String: SQLValue] = [:]
        for cell in row {
            values[cell.columnName] = try value(cell)
        }
        return SQLRow(values)
    }

    private static func value(_ cell: PostgresCell) throws -> SQLValue {
        guard cell.bytes != nil else { return .null }
        switch cell.dataType {
        case .int2: return .integer(Int64(try cell.decode(Int16.self)))
        case .int4: return .integer(Int64(try cell.decode(Int32.self)))
        case .int8: return .integer(try cell.decode(Int64.self))
        case .bool: return .integer(try cell.decode(Bool.self) ? 1 : 0)
        case .float4, .float8: return .real(try cell.decode(Double.self))
        case .bytea: return .blob([UInt8](try cell.decode(Data.self)))
        default: return .text(try cell.decode(String.self))
        }
    }
}

extension PostgresTransaction {
    /// A PostgreSQL error in words. postgres-nio keeps its errors' descriptions vague on purpose
    /// (they may hold query text); the server's message, detail and hint are what an operator needs.
    static func explain(_ error: any Error) -> String {
        guard let error = error as? PSQLError else { return "\(error)" }
        if let info = error.serverInfo, let message = info[.message] {
            return [message, info[.detail], info[.hint]].compactMap { $0 }.joined(separator: "; ")
        }
        if let underlying = error.underlying { return "\(underlying)" }
        return "\(error.code)"
    }
}

/// Turns the store's `?` placeholders into PostgreSQL's numbered ones, leaving quoted text alone.
enum PostgresPlaceholders {
    static func number(_ sql: String) -> String {
        var result = ""
        result.reserveCapacity(sql.utf8.count + 8)
        var index = 0
        var inQuotes = false
        for character in sql {
            if character == "'" { inQuotes.toggle() }
            if character == "?" && !inQuotes {
                index += 1
                result += "$\(index)"
            } else {
                result.append(character)
            }
        }
        return result
    }
}
