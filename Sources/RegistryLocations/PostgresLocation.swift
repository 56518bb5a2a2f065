#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif

/// Where a fleet's registry lives: a PostgreSQL server, from `[registry] url` (and `password_file`).
///
/// The URL never holds the password, so it can be logged and shown in errors: the password, when the
/// server asks for one, is read from a file only root and popgate read.
public struct PostgresLocation: Sendable, Equatable, CustomStringConvertible {
    public var host: String
    public var port: Int
    public var user: String
    public var database: String
    /// A file holding the password (a trailing newline is ignored); nil when the server trusts the
    /// connection or authenticates it otherwise.
    public var passwordFile: String?
    /// Whether the connection must use TLS (`?sslmode=require`), verified against the system's roots.
    public var requireTLS: Bool

    /// Parses `postgres://USER@HOST[:PORT]/DATABASE[?sslmode=disable|require]`.
    public init(url text: String, passwordFile: String? = nil) throws(RegistryLocationError) {
        let example = "postgres://popgate@db.example.net:5432/popgate"
        guard let components = URLComponents(string: text),
              components.scheme == "postgres" || components.scheme == "postgresql"
        else {
            throw RegistryLocationError("registry url \"\(text)\" is not a postgres:// URL; e.g. \(example)")
        }
        if components.password != nil {
            throw RegistryLocationError(
                "registry url must not contain a password (it would show in logs and `ps`); "
                    + "put it in a file and set registry.password_file"
            )
        }
        // Foundation keeps an IPv6 literal's brackets on some platforms; the connection wants it bare.
        let host = components.host.map { name in
            name.hasPrefix("[") && name.hasSuffix("]") ? String(name.dropFirst().dropLast()) : name
        }
        guard let host, !host.isEmpty else {
            throw RegistryLocationError("registry url \"\(text)\" names no host; e.g. \(example)")
        }
        guard let user = components.user, !user.isEmpty else {
            throw RegistryLocationError("registry url \"\(text)\" names no user; e.g. \(example)")
        }
        let database = String(components.path.drop { $0 == "/" })
        guard !database.isEmpty, !database.contains("/") else {
            throw RegistryLocationError("registry url \"\(text)\" names no database; e.g. \(example)")
        }
        var requireTLS = false
        for item in components.queryItems ?? [] {
            switch (item.name, item.value) {
            case ("sslmode", "disable"): requireTLS = false
            case ("sslmode", "require"): requireTLS = true
            default:
                throw RegistryLocationError(
                    "registry url option \(item.name)=\(item.value ?? "") is not understood; "
                        + "only sslmode=disable or sslmode=require"
                )
            }
        }
        self.host = host
        self.port = components.port ?? 5432
        self.user = user
        self.database = database
        self.passwordFile = passwordFile
        self.requireTLS = requireTLS
    }

    /// The URL, without a password (it never has one).
    public var description: String {
        let bracketed = host.contains(":") ? "[\(host)]" : host
        return "postgres://\(user)@\(bracketed):\(port)/\(database)" + (requireTLS ? "?sslmode=require" : "")
    }
}

/// A registry location that cannot be used: what was wrong and what to write instead.
public struct RegistryLocationError: Error, CustomStringConvertible, Sendable, Equatable {
    public let message: String

    public init(_ message: String) { self.message = message }

    public var description: String { message }
}
