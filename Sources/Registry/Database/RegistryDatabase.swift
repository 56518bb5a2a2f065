/// The database engine under ``RegistryStore``: SQLite on one machine, PostgreSQL for a fleet.
///
/// The store's logic (what a tenant, peer or key change checks and writes) is written once, in SQL
/// both engines accept, against ``RegistryTransaction``; an engine supplies transactions, its own
/// schema migrations (same versions, each in its dialect) and its change notification. So one
/// behaviour, one test suite, and no second copy of the rules to drift.
protocol RegistryDatabase: Sendable {
    /// Runs `body` in a read-only transaction that sees one consistent state.
    func read<T: Sendable>(_ body: (any RegistryTransaction) throws -> T) throws -> T
    /// Runs `body` in a write transaction; it commits when `body` returns and rolls back when it
    /// throws. Write transactions never run concurrently (the store's check-then-insert logic, such
    /// as picking the lowest free address, relies on it), also across processes and PoPs.
    func write<T: Sendable>(_ body: (any RegistryTransaction) throws -> T) throws -> T
    /// Where the database is, for messages and logs: never a secret.
    var location: String { get }
    /// Tells followers that a write committed; an engine that needs nothing (PostgreSQL notifies
    /// inside the transaction) leaves it empty.
    func announceCommit()
    /// Waits for other processes' commits; nil when the engine cannot, so followers only poll.
    func makeChangeSignal() -> (any RegistryChangeWaiting)?
}

/// One transaction. Statements use `?` placeholders, which the PostgreSQL engine numbers.
protocol RegistryTransaction {
    func execute(_ sql: String, _ arguments: [any SQLBindable]) throws
    func rows(_ sql: String, _ arguments: [any SQLBindable]) throws -> [SQLRow]
    /// Runs `body` in a savepoint: what it wrote is undone when it throws, and the transaction goes on.
    func savepoint(_ body: () throws -> Void) throws
}

extension RegistryTransaction {
    func execute(_ sql: String) throws { try execute(sql, []) }
    func rows(_ sql: String) throws -> [SQLRow] { try rows(sql, []) }
    func row(_ sql: String, _ arguments: [any SQLBindable] = []) throws -> SQLRow? { try rows(sql, arguments).first }
    /// The first column of each row, as text.
    func strings(_ sql: String, _ arguments: [any SQLBindable] = []) throws -> [String] {
        try rows(sql, arguments).map { row in
            guard let value = row.values.values.first, case .text(let text) = value else {
                throw SQLRowError("expected one text column from: \(sql)")
            }
            return text
        }
    }
}

/// A statement broke a constraint (a unique index, a check): the engines' own errors, made one,
/// so a caller can refuse one row of a batch and go on.
struct SQLConstraintViolation: Error, CustomStringConvertible {
    let description: String
}

/// Any other failure of a statement: the storage, not the request. It ends the transaction.
struct SQLFailure: Error, CustomStringConvertible {
    let description: String
}

/// Waits for commits made by other processes.
public protocol RegistryChangeWaiting: Sendable {
    /// Returns when a commit was announced, or after `timeout`, whichever is first.
    func wait(upTo timeout: Duration) async
}
