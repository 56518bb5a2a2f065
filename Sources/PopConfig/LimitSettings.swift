/// `[limits]`: what one API key may ask of the PoP per minute in each tier, and how many requests
/// and connections one peer may have open.
///
/// Rates are per key *and* tier, so a key's batch jobs in `slow` never eat the allowance of its
/// interactive requests in `fast`. 0 means unlimited.
public struct LimitSettings: Sendable, Equatable {
    /// One tier's allowance per key.
    public struct TierLimit: Sendable, Equatable {
        /// Requests per minute (a burst of the whole minute's allowance is allowed).
        public var requestsPerMinute: Int
        /// Prompt plus completion tokens per minute, as the workers' usage reports count them.
        public var tokensPerMinute: Int

        public init(requestsPerMinute: Int, tokensPerMinute: Int) {
            self.requestsPerMinute = requestsPerMinute
            self.tokensPerMinute = tokensPerMinute
        }
    }

    /// By tier name (`BackendSettings.tierNames`); every tier has an entry.
    public var tiers: [String: TierLimit]
    /// Requests (streamed or not) one WireGuard peer may have in flight at once; 0 = unlimited.
    public var maxStreamsPerPeer: Int
    /// TCP connections one WireGuard peer may have open at once; 0 = unlimited. Each costs the gateway
    /// a file descriptor and a pipeline's memory, so without it one peer could take every descriptor
    /// (and the service) from all the others.
    public var maxConnectionsPerPeer: Int

    /// The defaults grow with the tier, as the tiers' prices do: a slow key is a batch job, a
    /// ludicrous key an interactive product with many users behind it.
    public static let defaultTiers: [String: TierLimit] = [
        "slow": .init(requestsPerMinute: 60, tokensPerMinute: 200_000),
        "medium": .init(requestsPerMinute: 600, tokensPerMinute: 1_000_000),
        "fast": .init(requestsPerMinute: 3_000, tokensPerMinute: 5_000_000),
        "ludicrous": .init(requestsPerMinute: 10_000, tokensPerMinute: 20_000_000),
    ]

    /// Far above what a client's connection pool opens (the OpenAI SDKs keep at most 100 to a host,
    /// browsers 6), far below the descriptors a gateway has (popgated.service allows 65,536).
    public static let defaultMaxConnectionsPerPeer = 256

    public static let defaults = LimitSettings(tiers: defaultTiers, maxStreamsPerPeer: 64)

    public init(
        tiers: [String: TierLimit], maxStreamsPerPeer: Int, maxConnectionsPerPeer: Int = defaultMaxConnectionsPerPeer
    ) {
        self.tiers = tiers
        self.maxStreamsPerPeer = maxStreamsPerPeer
        self.maxConnectionsPerPeer = maxConnectionsPerPeer
    }
}
