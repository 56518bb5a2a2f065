import TOMLKit

extension PopConfiguration {
    /// Reads `[receipts]`; every key has a default, so the section may be left out.
    static func readReceipts(_ table: TableReader, popName: String) throws(ConfigError) -> ReceiptSettings {
        var reader = table
        let defaults = ReceiptSettings(origin: ReceiptSettings.defaultOrigin(popName: popName))
        let origin = try reader.string("origin") ?? defaults.origin
        guard !origin.isEmpty, !origin.unicodeScalars.contains(where: { $0.properties.isWhitespace || $0 == "+" || $0.value < 0x20 })
        else {
            throw reader.error(
                "origin",
                "\"\(origin)\" cannot name a log: use a schema-less URL with no spaces and no '+', e.g. \"pop1.example.com/receipts\""
            )
        }
        let settings = ReceiptSettings(
            directory: try reader.string("directory") ?? defaults.directory,
            signingKeyFile: try reader.string("signing_key_file") ?? defaults.signingKeyFile,
            origin: origin,
            checkpointIntervalMilliseconds: try reader.int("checkpoint_interval_ms", range: 50...60_000) ?? 1000
        )
        for (key, value) in [("directory", settings.directory), ("signing_key_file", settings.signingKeyFile)]
        where !value.hasPrefix("/") {
            throw reader.error(key, "\"\(value)\" is not an absolute path")
        }
        try reader.rejectUnknownKeys()
        return settings
    }

    /// Reads a backend's `model_revisions`: the revision of each model's weights it serves, which
    /// receipts record as the model version.
    static func readModelRevisions(_ reader: inout TableReader, models: [String]) throws(ConfigError) -> [String: String] {
        guard let table = try reader.subtable("model_revisions") else { return [:] }
        var revisions: [String: String] = [:]
        for key in table.keys.sorted() {
            guard models.contains(key) else {
                throw reader.error("model_revisions", "\"\(key)\" is not one of this backend's models (\(models.joined(separator: ", ")))")
            }
            guard let revision = table[key]?.string, !revision.isEmpty, revision.utf8.count <= 256 else {
                throw reader.error("model_revisions", "the revision of \(key) must be a non-empty string of at most 256 bytes")
            }
            revisions[key] = revision
        }
        return revisions
    }
}
