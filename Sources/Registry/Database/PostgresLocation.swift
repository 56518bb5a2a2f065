import Foundation

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
    public init(url text: String, passwordFile: String? = nil) throws(RegistryError) {
        let example = "postgres://popgate@db.example.net:5432/popgate"
        guard let components = URLComponents(string: text),
              components.scheme == "postgres" || components.scheme == "postgresql"
        else {
            throw RegistryError(.invalidArgument, "registry url \"\(text)\" is not a postgres:// URL; e.g. \(example)")
        }
        if components.password != nil {
            throw RegistryError(
                .invalidArgument,
                "registry url must not contain a password (it would show in logs and `ps`); "
                    + "put it in a file and set registry.password_file"
            )
        }
        // Foundation keeps an IPv6 literal's brackets on some platforms; the connection wants it bare.
        let host = components.host.map { name in
            name.hasPrefix("[") && name.hasSuffix("]") ? String(name.dropFirst().dropLast()) : name
        }
        guard let host, !host.isEmpty else {
            throw RegistryError(.invalidArgument, "registry url \"\(text)\" names no host; e.g. \(example)")
        }
        guard let user = components.user, !user.isEmpty else {
            throw RegistryError(.invalidArgument, "registry url \"\(text)\" names no user; e.g. \(example)")
        }
        let database = String(components.path.drop { $0 == "/" })
        guard !database.isEmpty, !database.contains("/") else {
            throw RegistryError(.invalidArgument, "registry url \"\(text)\" names no database; e.g. \(example)")
        }
        var requireTLS = false
        for item in components.queryItems ?? [] {
            switch (item.name, item.value) {
            case ("sslmode", "disable"): requireTLS = false
            case ("sslmode", "require"): requireTLS = true
            default:
                throw RegistryError(
                    .invalidArgument,
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

    /// The password from `passwordFile`, or nil when there is none.
    func password() throws(RegistryError) -> String? {
        guard let passwordFile else { return nil }
        do {
            let text = try String(contentsOfFile: passwordFile, encoding: .utf8)
            return String(text.trimmingCharacters(in: .newlines))
        } catch {
            throw RegistryError(
                .storage,
                "cannot read the registry password file \(passwordFile): \(error.localizedDescription); "
                    + "check that it exists and that this user may read it"
            )
        }
    }
}
