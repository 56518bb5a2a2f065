import PopConfig

/// Why a connection was closed without a byte (`popgate_silent_closes_total{reason}`).
public enum SilentCloseReason: String, Sendable, CaseIterable {
    /// The source address is not a live peer (closed at accept).
    case nonPeer = "non_peer"
    /// A peer's request failed authentication and `silent_close_on_auth_failure` is on.
    case authFailure = "auth_failure"
    /// A connection sent no complete request in time.
    case timeout
    /// The peer already had `max_connections_per_peer` connections open (closed at accept).
    case connectionLimit = "connection_limit"
}

/// Which limit refused a request (`popgate_rate_limited_total{limit}`).
public enum RateLimitKind: String, Sendable, CaseIterable {
    /// Requests per minute of the key and tier.
    case requests
    /// Tokens per minute of the key and tier.
    case tokens
    /// Streams in flight of the peer.
    case streams
}

/// Label values that come from a client are mapped onto a fixed set, so no client can grow the
/// number of series (and the gateway's memory) by sending made-up paths or tier names.
enum MetricLabels {
    /// The endpoints that get their own series; any other path counts as `other`.
    static let endpoints: Set<String> = ProxyRoute.modelRoutedPaths.union(["/v1/models"])
    /// The tiers that get their own series; anything else (an invalid tier header) is `unknown`.
    static let tiers = Set(BackendSettings.tierNames)

    static func endpoint(_ path: String) -> String { endpoints.contains(path) ? path : "other" }
    static func tier(_ name: String) -> String { tiers.contains(name) ? name : "unknown" }
}
