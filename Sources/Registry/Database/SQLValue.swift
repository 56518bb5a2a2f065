import Foundation

/// A value bound to or read from a registry statement, in the types both engines share: the
/// schema stores integers, seconds since 1970 as doubles, text and bytes, and nothing else.
public enum SQLValue: Sendable, Hashable {
    case null
    case integer(Int64)
    case real(Double)
    case text(String)
    case blob([UInt8])
}

/// A Swift value a statement can bind.
public protocol SQLBindable: Sendable {
    var sqlValue: SQLValue { get }
}

extension Int64: SQLBindable { public var sqlValue: SQLValue { .integer(self) } }
extension Int: SQLBindable { public var sqlValue: SQLValue { .integer(Int64(self)) } }
extension Double: SQLBindable { public var sqlValue: SQLValue { .real(self) } }
extension String: SQLBindable { public var sqlValue: SQLValue { .text(self) } }
extension Data: SQLBindable { public var sqlValue: SQLValue { .blob([UInt8](self)) } }

extension Optional: SQLBindable where Wrapped: SQLBindable {
    public var sqlValue: SQLValue { map(\.sqlValue) ?? .null }
}

/// One result row, by column name. Reading a column the query did not select, or as a type its
/// value does not have, is a programming error in the store and says which column.
public struct SQLRow: Sendable {
    let values: [String: SQLValue]

    public init(_ values: [String: SQLValue]) { self.values = values }

    func value(_ column: String) throws -> SQLValue {
        guard let value = values[column] else { throw SQLRowError("the query did not select column \(column)") }
        return value
    }

    func int64(_ column: String) throws -> Int64 {
        guard case .integer(let number) = try value(column) else { throw mismatch(column, "an integer") }
        return number
    }

    func double(_ column: String) throws -> Double {
        switch try value(column) {
        case .real(let number): return number
        // SQLite hands back a REAL column holding a whole number as an integer.
        case .integer(let number): return Double(number)
        default: throw mismatch(column, "a number")
        }
    }

    func optionalDouble(_ column: String) throws -> Double? {
        if case .null = try value(column) { return nil }
        return try double(column)
    }

    func optionalInt(_ column: String) throws -> Int? {
        if case .null = try value(column) { return nil }
        return Int(try int64(column))
    }

    func string(_ column: String) throws -> String {
        guard case .text(let text) = try value(column) else { throw mismatch(column, "text") }
        return text
    }

    func optionalString(_ column: String) throws -> String? {
        if case .null = try value(column) { return nil }
        return try string(column)
    }

    func bytes(_ column: String) throws -> [UInt8] {
        guard case .blob(let bytes) = try value(column) else { throw mismatch(column, "bytes") }
        return bytes
    }

    private func mismatch(_ column: String, _ expected: String) -> SQLRowError {
        SQLRowError("column \(column) holds \(values[column].map { "\($0)" } ?? "nothing"), not \(expected)")
    }
}

/// A row read as something it is not: the schema and the store disagree.
struct SQLRowError: Error, CustomStringConvertible {
    let description: String
    init(_ description: String) { self.description = description }
}
