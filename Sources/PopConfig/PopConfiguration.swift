import Addressing
import RegistryLocations

/// The whole of `popgate.toml`: one file for both daemons and for `popctl`.
///
/// Every field has been validated when a value of this type exists. The key names and their
/// defaults are documented in docs/configuration.md.
public struct PopConfiguration: Sendable, Equatable {
    /// The PoP's name, used in logs and client configs.
    public var popName: String
    /// Where the registry lives.
    public var registry: RegistrySettings
    /// The edge WireGuard interface clients dial.
    public var wireguard: WireGuardSettings
    /// The HTTP gateway inside the tunnel.
    public var gateway: GatewaySettings
    /// popnetd's runtime files.
    public var netd: NetdSettings
    /// The inference workers, in the order the router prefers them.
    public var backends: [BackendSettings]
    /// `[firewall]`: popnetd's nftables policy.
    public var firewall: FirewallChoice = .unconfigured
    /// `[limits]`: per key and tier rates, and streams per peer.
    public var limits: LimitSettings = .defaults
    /// `[metrics]`: Prometheus text on the management address; nil serves none.
    public var metrics: MetricsSettings? = nil
    /// `[tls]`: HTTPS inside the tunnel; nil serves plain HTTP.
    public var tls: TLSSettings? = nil
    /// `[receipts]`: the receipt log.
    public var receipts = ReceiptSettings(origin: ReceiptSettings.defaultOrigin(popName: "pop"))
}

/// `[registry]`.
public struct RegistrySettings: Sendable, Equatable {
    /// The SQLite file (`path`, the default) or the PostgreSQL server (`url`, `password_file`).
    public var location: RegistryLocation
    /// Where each daemon keeps its local copy of a PostgreSQL registry (`local_copy_directory`).
    public var localCopyDirectory: String = "/var/lib/popgate"

    /// The file of the local copy `daemon` keeps of a PostgreSQL registry; nil for SQLite, which is
    /// local already.
    public func localCopyPath(for daemon: String) -> String? {
        guard case .postgres = location else { return nil }
        // A directory per daemon: popgated (user popgate) may write its own, never popnetd's.
        return "\(localCopyDirectory)/\(daemon)/registry-copy.json"
    }
}

/// Which WireGuard implementation popnetd drives.
public enum WireGuardBackendChoice: String, Sendable, Equatable, CaseIterable {
    /// The kernel module when the running kernel has it, else wireguard-go.
    case auto
    /// The kernel module, configured over generic netlink.
    case kernel
    /// wireguard-go, configured through its UAPI socket.
    case userspace
}

/// `[wireguard]`.
public struct WireGuardSettings: Sendable, Equatable {
    /// The interface name, at most 15 bytes (IFNAMSIZ - 1).
    public var interface: String
    /// The PoP's private key file (base64, mode 0600).
    public var privateKeyFile: String
    /// The UDP port the PoP listens on.
    public var listenPort: Int
    /// The PoP's own tunnel address with the tunnel's prefix length (`10.77.0.1/24`).
    public var address: IPPrefix
    /// The prefix client addresses are allocated from.
    public var pool: IPPrefix
    /// The endpoint written into client configs (the PoP's public uplink address and port).
    public var endpoint: SocketEndpoint
    /// Which implementation to drive.
    public var backend: WireGuardBackendChoice
    /// The wireguard-go executable.
    public var userspaceCommand: String
    /// The directory of wireguard-go's UAPI sockets.
    public var userspaceSocketDirectory: String
    /// PersistentKeepalive written into client configs (0 = off).
    public var persistentKeepalive: Int
    /// Preshared keys for new peers (an extra symmetric layer against a future quantum attacker).
    public var presharedKeys: Bool
    /// The interface MTU; clients get the same.
    public var mtu: Int
}

/// `[gateway]`.
public struct GatewaySettings: Sendable, Equatable {
    /// The TCP port bound on the PoP's tunnel address.
    public var listenPort: Int
    /// The largest request body accepted; larger bodies get 413.
    public var maxRequestBodyBytes: Int
    /// How often the gateway re-reads the registry's revision.
    public var registryPollMilliseconds: Int
    /// The request header that picks a tier (else the API key's default tier).
    public var tierHeader = "X-Siati-Tier"
    /// How often each backend's health and load are read.
    public var backendCheckMilliseconds = 1000
    /// Consecutive failed checks (or requests) that mark a backend unhealthy, and consecutive
    /// passed checks that mark it healthy again: one blip neither removes nor restores it.
    public var unhealthyAfter = 2
    public var healthyAfter = 2
    /// The secret from which each tenant's vLLM `cache_salt` is derived (made on first use).
    public var cacheSaltKeyFile = "/etc/popgate/keys/cache-salt.key"
    /// The largest request head (request line and headers) accepted; larger ones get 431.
    public var maxHeaderBytes = 16 << 10
    /// How long a new connection may take to deliver its first request head.
    public var headerTimeoutMilliseconds = 10_000
    /// The longest pause allowed between two pieces of a request body.
    public var bodyTimeoutMilliseconds = 30_000
    /// How long a kept-alive connection may sit between requests.
    public var idleTimeoutSeconds = 60
    /// How long a response may wait on a client that does not read it.
    public var sendTimeoutSeconds = 60
    /// The longest a worker may send nothing, before its answer's head or between two pieces of it,
    /// before the answer is given up as hung. A non-streamed answer arrives whole when generation
    /// ends, so this also bounds the longest one.
    public var upstreamIdleTimeoutSeconds = 300
    /// On SIGTERM, how long answers in flight may take to end before they are cut (the listener is
    /// closed first, idle connections at once); 0 cuts them at once.
    public var drainTimeoutSeconds = 30
    /// Whether a peer's request with a bad API key gets silence (like a non-peer) instead of a 401.
    public var silentCloseOnAuthFailure = false
}

/// `[netd]`.
public struct NetdSettings: Sendable, Equatable {
    /// Holds popnetd's lock file and status socket; root-only.
    public var runDirectory: String
    /// How often popnetd re-reads the registry's revision.
    public var registryPollMilliseconds: Int
    /// How often popnetd compares the device with the registry even without a change.
    public var reconcileIntervalSeconds: Int

    /// popnetd's root-only status socket, read by `popctl status` and `popctl peer list`.
    public var statusSocketPath: String { "\(runDirectory)/popnetd.sock" }
}

/// One `[[backends]]` entry: an inference worker across the backbone.
public struct BackendSettings: Sendable, Equatable {
    /// A short name for logs and receipts.
    public var name: String
    /// The scheme, host and port of the worker's OpenAI-compatible API (`http://10.99.0.2:8000`).
    public var url: String
    /// The models it serves.
    public var models: [String]
    /// What software it runs, which says where its load is read from (``WorkerKind``).
    public var kind: WorkerKind = .vllm
    /// Its weight per tier name (`slow`, `medium`, `fast`, `ludicrous`); 0 keeps the tier off it.
    /// The router prefers the highest weight, then the shortest queue, then the least GPU pressure.
    public var tierWeights: [String: Int] = Dictionary(uniqueKeysWithValues: BackendSettings.tierNames.map { ($0, 1) })
    /// Whether the worker schedules by priority (vLLM `--scheduling-policy priority`): only then is
    /// the tier's priority sent, as vLLM refuses a priority it does not schedule by.
    public var priorityScheduling = false
    /// The revision of each model's weights (`model_revisions`), recorded in receipts as the model version.
    public var modelRevisions: [String: String] = [:]

    /// The tier names `tier_weights` may use (the registry's tiers).
    public static let tierNames = ["slow", "medium", "fast", "ludicrous"]

    public init(
        name: String, url: String, models: [String], kind: WorkerKind = .vllm, tierWeights: [String: Int]? = nil,
        priorityScheduling: Bool = false, modelRevisions: [String: String] = [:]
    ) {
        self.name = name
        self.url = url
        self.models = models
        self.kind = kind
        if let tierWeights { self.tierWeights = tierWeights }
        self.priorityScheduling = priorityScheduling
        self.modelRevisions = modelRevisions
    }
}

/// The software an inference worker runs.
public enum WorkerKind: String, Sendable, Equatable, CaseIterable {
    /// vLLM: load from `/metrics` (`vllm:num_requests_waiting`, `vllm:kv_cache_usage_perc`).
    case vllm
    /// llama.cpp's server: load from `/metrics` (`llamacpp:requests_deferred`).
    case llamacpp
    /// Ollama publishes no load: the gateway counts its own requests in flight.
    case ollama
    /// Any other OpenAI-compatible server: no load figures; requests in flight are counted.
    case openai
}
