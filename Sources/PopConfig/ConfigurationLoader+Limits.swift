extension PopConfiguration {
    /// `[limits]`: `max_streams_per_peer`, `max_connections_per_peer`, and one table per tier whose limits differ from the
    /// defaults, e.g. `slow = { requests_per_minute = 30, tokens_per_minute = 50000 }`.
    static func readLimits(_ table: TableReader) throws(ConfigError) -> LimitSettings {
        var reader = table
        var settings = LimitSettings.defaults
        settings.maxStreamsPerPeer = try reader.int("max_streams_per_peer", range: 0...1_000_000) ?? settings.maxStreamsPerPeer
        settings.maxConnectionsPerPeer =
            try reader.int("max_connections_per_peer", range: 0...1_000_000) ?? settings.maxConnectionsPerPeer
        for tier in BackendSettings.tierNames {
            guard let tierTable = try reader.subtable(tier) else { continue }
            var tierReader = TableReader(
                table: tierTable, name: "limits.\(tier)", path: reader.path, locator: reader.locator
            )
            var limit = settings.tiers[tier]!
            limit.requestsPerMinute = try tierReader.int("requests_per_minute", range: 0...100_000_000) ?? limit.requestsPerMinute
            limit.tokensPerMinute = try tierReader.int("tokens_per_minute", range: 0...1_000_000_000) ?? limit.tokensPerMinute
            try tierReader.rejectUnknownKeys()
            settings.tiers[tier] = limit
        }
        try reader.rejectUnknownKeys()
        return settings
    }
}
