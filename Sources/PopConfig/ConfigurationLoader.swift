import Addressing
import Foundation
import TOMLKit

extension PopConfiguration {
    /// The path used when neither `--config` nor `POPGATE_CONFIG` names one.
    public static let defaultPath = "/etc/popgate/popgate.toml"

    /// The configuration file to read: the explicit option, else `POPGATE_CONFIG`, else the default.
    public static func resolvePath(explicit: String?, environment: [String: String] = ProcessInfo.processInfo.environment)
        -> String
    {
        explicit ?? environment["POPGATE_CONFIG"] ?? defaultPath
    }

    /// Reads and validates the file at `path`.
    public static func load(path: String) throws(ConfigError) -> PopConfiguration {
        let text: String
        do {
            text = try String(contentsOfFile: path, encoding: .utf8)
        } catch {
            let reason = FileManager.default.fileExists(atPath: path) ? "cannot be read (permissions?)" : "does not exist"
            throw ConfigError(
                path: path, key: nil, line: nil,
                message: "\(reason); pass --config PATH or set POPGATE_CONFIG (see docs/configuration.md)"
            )
        }
        return try parse(text, path: path)
    }

    /// Validates TOML text; `path` only labels errors.
    public static func parse(_ text: String, path: String = "popgate.toml") throws(ConfigError) -> PopConfiguration {
        let root: TOMLTable
        do {
            root = try TOMLTable(string: text)
        } catch let error as TOMLParseError {
            throw ConfigError(path: path, key: nil, line: error.source.begin.line, message: "TOML syntax: \(error.description)")
        } catch {
            throw ConfigError(path: path, key: nil, line: nil, message: "TOML syntax: \(error)")
        }
        let locator = SourceLocator(text: text)
        var top = TableReader(table: root, name: nil, path: path, locator: locator)

        func section(_ name: String) throws(ConfigError) -> TableReader {
            let table = try top.subtable(name) ?? TOMLTable()
            return TableReader(table: table, name: name, path: path, locator: locator)
        }

        var pop = try section("pop")
        let popName = try pop.string("name") ?? "pop"
        try pop.rejectUnknownKeys()

        let registry = try readRegistry(try section("registry"))

        let wireguard = try readWireGuard(try section("wireguard"))
        let gateway = try readGateway(try section("gateway"))

        var netdTable = try section("netd")
        let netd = NetdSettings(
            runDirectory: try netdTable.string("run_directory") ?? "/run/popgate",
            registryPollMilliseconds: try netdTable.int("registry_poll_ms", range: 10...10_000) ?? 200,
            // 1 s: a peer added or removed behind popnetd's back is reverted within 2 s, and a rotated
            // key's first handshake completes its rotation as fast (one device read per second).
            reconcileIntervalSeconds: try netdTable.int("reconcile_interval_s", range: 1...3600) ?? 1
        )
        try netdTable.rejectUnknownKeys()

        var backends: [BackendSettings] = []
        for (index, table) in try top.tableArray("backends").enumerated() {
            var reader = TableReader(table: table, name: "backends", index: index, path: path, locator: locator)
            let name = try reader.requiredString("name", hint: "give each backend a short name, e.g. name = \"gpu-1\"")
            let url = try reader.requiredString("url", hint: "e.g. url = \"http://10.99.0.2:8000\"")
            guard let parsed = URL(string: url), parsed.scheme == "http" || parsed.scheme == "https", parsed.host != nil,
                  parsed.path.isEmpty || parsed.path == "/"
            else {
                throw reader.error("url", "\"\(url)\" is not http(s)://HOST:PORT with no path")
            }
            let models = try reader.strings("models") ?? []
            guard !models.isEmpty else { throw reader.error("models", "list at least one model this backend serves") }
            guard !backends.contains(where: { $0.name == name }) else {
                throw reader.error("name", "\"\(name)\" is used by an earlier backend; names must be unique")
            }
            let kindText = try reader.string("kind") ?? WorkerKind.vllm.rawValue
            guard let kind = WorkerKind(rawValue: kindText) else {
                throw reader.error(
                    "kind", "\"\(kindText)\" is not one of: \(WorkerKind.allCases.map(\.rawValue).joined(separator: ", "))"
                )
            }
            let weights = try readTierWeights(&reader)
            let priorityScheduling = try reader.bool("priority_scheduling") ?? false
            let modelRevisions = try readModelRevisions(&reader, models: models)
            if priorityScheduling && kind != .vllm {
                throw reader.error("priority_scheduling", "only vLLM backends schedule by priority; remove it or set kind = \"vllm\"")
            }
            try reader.rejectUnknownKeys()
            backends.append(BackendSettings(
                name: name, url: url.hasSuffix("/") ? String(url.dropLast()) : url, models: models, kind: kind,
                tierWeights: weights, priorityScheduling: priorityScheduling, modelRevisions: modelRevisions
            ))
        }
        guard !backends.isEmpty else {
            throw ConfigError(
                path: path, key: "backends", line: nil,
                message: "no inference backend is configured; add a [[backends]] table with name, url and models"
            )
        }
        let firewall = try top.subtable("firewall").map { table throws(ConfigError) in
            try readFirewall(TableReader(table: table, name: "firewall", path: path, locator: locator))
        } ?? .unconfigured
        let limits = try readLimits(try section("limits"))
        let metrics = try readMetrics(top.subtable("metrics"), path: path, locator: locator, wireguard: wireguard)
        let tls = try readTLS(top.subtable("tls"), path: path, locator: locator)
        let receipts = try readReceipts(try section("receipts"), popName: popName)
        try top.rejectUnknownKeys()
        return PopConfiguration(
            popName: popName, registry: registry, wireguard: wireguard, gateway: gateway, netd: netd, backends: backends,
            firewall: firewall, limits: limits, metrics: metrics, tls: tls, receipts: receipts
        )
    }

    private static func readWireGuard(_ table: TableReader) throws(ConfigError) -> WireGuardSettings {
        var reader = table
        let interface = try reader.string("interface") ?? "wg-edge"
        guard (1...15).contains(interface.utf8.count), interface.allSatisfy({ $0.isLetter || $0.isNumber || "-_.".contains($0) })
        else {
            throw reader.error("interface", "\"\(interface)\" is not a valid interface name (1-15 letters, digits, - _ .)")
        }
        guard let address = try reader.prefix("address", example: "10.77.0.1/24") else {
            throw reader.error("address", "is required: the PoP's tunnel address with prefix length, e.g. \"10.77.0.1/24\"")
        }
        let pool = try reader.prefix("pool", example: "10.77.0.0/24") ?? IPPrefix(address: address.network, length: address.length)!
        guard pool.address.isV4 == address.address.isV4 else {
            throw reader.error(
                "pool", "\(pool) and wireguard.address \(address) are of different IP versions; use one version for both"
            )
        }
        guard pool.clientAddresses.count >= 2 else {
            throw reader.error(
                "pool", "\(pool) has no room for clients; use a prefix of /30 (IPv4) or /126 (IPv6) or shorter"
            )
        }
        guard let endpoint = try reader.endpoint("endpoint", example: "198.51.100.7:51820") else {
            throw reader.error("endpoint", "is required: the public HOST:PORT clients dial, e.g. \"198.51.100.7:51820\"")
        }
        let backendText = try reader.string("backend") ?? "auto"
        guard let backend = WireGuardBackendChoice(rawValue: backendText) else {
            throw reader.error("backend", "\"\(backendText)\" is not one of: \(WireGuardBackendChoice.allCases.map(\.rawValue).joined(separator: ", "))")
        }
        let settings = WireGuardSettings(
            interface: interface,
            privateKeyFile: try reader.string("private_key_file") ?? "/etc/popgate/keys/\(interface).key",
            listenPort: try reader.int("listen_port", range: 1...65535) ?? 51820,
            address: address,
            pool: pool,
            endpoint: endpoint,
            backend: backend,
            userspaceCommand: try reader.string("userspace_command") ?? "wireguard-go",
            userspaceSocketDirectory: try reader.string("userspace_socket_directory") ?? "/var/run/wireguard",
            persistentKeepalive: try reader.int("persistent_keepalive", range: 0...65535) ?? 25,
            presharedKeys: try reader.bool("preshared_keys") ?? true,
            mtu: try reader.int("mtu", range: 1280...9000) ?? 1420
        )
        try reader.rejectUnknownKeys()
        return settings
    }

    /// `tier_weights = { slow = 0, medium = 1, fast = 5, ludicrous = 10 }`: tiers left out weigh
    /// 0 (the backend does not serve them); without the key every tier weighs 1.
    private static func readTierWeights(_ reader: inout TableReader) throws(ConfigError) -> [String: Int]? {
        guard let table = try reader.subtable("tier_weights") else { return nil }
        var weights = Dictionary(uniqueKeysWithValues: BackendSettings.tierNames.map { ($0, 0) })
        for key in table.keys.sorted() {
            guard BackendSettings.tierNames.contains(key) else {
                throw reader.error(
                    "tier_weights", "\"\(key)\" is not a tier; use \(BackendSettings.tierNames.joined(separator: ", "))"
                )
            }
            guard let weight = table[key]?.int, (0...1_000_000).contains(weight) else {
                throw reader.error("tier_weights", "the weight of \(key) must be an integer from 0 to 1000000")
            }
            weights[key] = weight
        }
        guard weights.values.contains(where: { $0 > 0 }) else {
            throw reader.error("tier_weights", "every weight is 0, so no request would ever reach this backend")
        }
        return weights
    }

    private static func readFirewall(_ table: TableReader) throws(ConfigError) -> FirewallChoice {
        var reader = table
        guard try reader.bool("enabled") ?? true else {
            try reader.rejectUnknownKeys()
            return .disabled
        }
        guard let uplink = try reader.string("uplink_interface") else {
            throw reader.error(
                "uplink_interface",
                "is required: the interface WireGuard clients arrive on (e.g. \"eth0\"); or set enabled = false"
            )
        }
        try checkInterfaceName(uplink, key: "uplink_interface", reader)
        guard let backbone = try reader.string("backbone_interface") else {
            throw reader.error(
                "backbone_interface", "is required: the interface the [[backends]] are reached on (e.g. \"bb0\")"
            )
        }
        try checkInterfaceName(backbone, key: "backbone_interface", reader)
        var management: FirewallSettings.Management?
        if let interface = try reader.string("management_interface") {
            try checkInterfaceName(interface, key: "management_interface", reader)
            var prefixes: [IPPrefix] = []
            for text in try reader.strings("management_prefixes") ?? [] {
                guard let prefix = IPPrefix(text), prefix.address == prefix.network, prefix.length > 0 else {
                    throw reader.error(
                        "management_prefixes",
                        "\"\(text)\" is not a network prefix; write it as CIDR with no host bits, e.g. \"192.0.2.0/24\""
                    )
                }
                prefixes.append(prefix)
            }
            guard !prefixes.isEmpty else {
                throw reader.error("management_prefixes", "list the networks operators connect from, e.g. [\"192.0.2.0/24\"]")
            }
            let ports = try reader.ints("management_ports", range: 1...65535) ?? [22]
            management = .init(interface: interface, prefixes: prefixes, ports: ports)
        } else {
            let prefixes = try reader.strings("management_prefixes")
            let ports = try reader.ints("management_ports", range: 1...65535)
            if prefixes != nil || ports != nil {
                throw reader.error("management_interface", "is required when management_prefixes or management_ports is set")
            }
        }
        let settings = FirewallSettings(
            uplinkInterface: uplink, backboneInterface: backbone, management: management,
            verifyIntervalSeconds: try reader.int("verify_interval_s", range: 1...3600) ?? 10
        )
        try reader.rejectUnknownKeys()
        return .enabled(settings)
    }

    private static func checkInterfaceName(_ name: String, key: String, _ reader: TableReader) throws(ConfigError) {
        guard (1...15).contains(name.utf8.count), name.allSatisfy({ $0.isLetter || $0.isNumber || "-_.".contains($0) })
        else {
            throw reader.error(key, "\"\(name)\" is not a valid interface name (1-15 letters, digits, - _ .)")
        }
    }

    private static func readGateway(_ table: TableReader) throws(ConfigError) -> GatewaySettings {
        var reader = table
        let settings = GatewaySettings(
            listenPort: try reader.int("listen_port", range: 1...65535) ?? 8080,
            maxRequestBodyBytes: try reader.int("max_request_body_bytes", range: 1024...(1 << 30)) ?? 8 << 20,
            registryPollMilliseconds: try reader.int("registry_poll_ms", range: 10...10_000) ?? 200,
            tierHeader: try reader.string("tier_header") ?? "X-Siati-Tier",
            backendCheckMilliseconds: try reader.int("backend_check_ms", range: 50...60_000) ?? 1000,
            unhealthyAfter: try reader.int("unhealthy_after", range: 1...100) ?? 2,
            healthyAfter: try reader.int("healthy_after", range: 1...100) ?? 2,
            cacheSaltKeyFile: try reader.string("cache_salt_key_file") ?? "/etc/popgate/keys/cache-salt.key",
            maxHeaderBytes: try reader.int("max_header_bytes", range: 1024...(1 << 20)) ?? 16 << 10,
            headerTimeoutMilliseconds: try reader.int("header_timeout_ms", range: 100...600_000) ?? 10_000,
            bodyTimeoutMilliseconds: try reader.int("body_timeout_ms", range: 100...600_000) ?? 30_000,
            idleTimeoutSeconds: try reader.int("idle_timeout_s", range: 1...3600) ?? 60,
            sendTimeoutSeconds: try reader.int("send_timeout_s", range: 1...3600) ?? 60,
            upstreamIdleTimeoutSeconds: try reader.int("upstream_idle_timeout_s", range: 1...3600) ?? 300,
            drainTimeoutSeconds: try reader.int("drain_timeout_s", range: 0...3600) ?? 30,
            silentCloseOnAuthFailure: try reader.bool("silent_close_on_auth_failure") ?? false
        )
        guard settings.tierHeader.utf8.allSatisfy({ $0 > 32 && $0 < 127 && $0 != UInt8(ascii: ":") }),
              !settings.tierHeader.isEmpty
        else {
            throw reader.error("tier_header", "\"\(settings.tierHeader)\" is not an HTTP header name")
        }
        try reader.rejectUnknownKeys()
        return settings
    }
}
