/// Which database holds the registry: the `[registry]` section of popgate.toml.
public enum RegistryLocation: Sendable, Equatable, CustomStringConvertible {
    /// A SQLite file on this machine: one PoP.
    case sqlite(path: String)
    /// A PostgreSQL server several PoPs share.
    case postgres(PostgresLocation)

    public var description: String {
        switch self {
        case .sqlite(let path): path
        case .postgres(let location): location.description
        }
    }
}
