import RegistryLocations

extension PopConfiguration {
    /// `[registry]`: `path` for a SQLite file (the default), or `url` (and `password_file`) for a
    /// PostgreSQL server several PoPs share. Both at once is refused: which one is meant is unclear.
    static func readRegistry(_ table: TableReader) throws(ConfigError) -> RegistrySettings {
        var table = table
        let path = try table.string("path")
        let url = try table.string("url")
        let passwordFile = try table.string("password_file")
        let copyDirectory = try table.string("local_copy_directory")
        try table.rejectUnknownKeys()
        if copyDirectory != nil && url == nil {
            throw table.error(
                "local_copy_directory", "is for a PostgreSQL registry (url); a SQLite registry is a local file already"
            )
        }
        switch (path, url) {
        case (.some, .some):
            throw table.error(
                "url", "set either path (a SQLite file on this PoP) or url (a PostgreSQL server), not both"
            )
        case (_, .some(let url)):
            do {
                var settings = RegistrySettings(
                    location: .postgres(try PostgresLocation(url: url, passwordFile: passwordFile))
                )
                if let copyDirectory { settings.localCopyDirectory = copyDirectory }
                return settings
            } catch {
                throw table.error("url", error.message)
            }
        case (let path, nil):
            if passwordFile != nil {
                throw table.error("password_file", "is for a PostgreSQL registry (url); a SQLite file has no password")
            }
            return RegistrySettings(location: .sqlite(path: path ?? "/var/lib/popgate/registry.sqlite"))
        }
    }
}
