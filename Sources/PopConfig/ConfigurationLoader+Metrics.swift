import Addressing
import TOMLKit

extension PopConfiguration {
    /// Reads `[metrics]`; nil when the section is absent (then popgated serves no metrics).
    ///
    /// The listen address must be one literal address outside the tunnel: a wildcard or a tunnel
    /// address would put tenant usage figures within reach of the peers.
    static func readMetrics(
        _ section: TOMLTable?, path: String, locator: SourceLocator, wireguard: WireGuardSettings
    ) throws(ConfigError) -> MetricsSettings? {
        guard let section else { return nil }
        var reader = TableReader(table: section, name: "metrics", path: path, locator: locator)
        guard let listen = try reader.endpoint("listen", example: "192.0.2.1:9100") else {
            throw reader.error(
                "listen",
                "is required: the management ADDRESS:PORT to serve /metrics on, e.g. \"192.0.2.1:9100\"; "
                    + "remove [metrics] to serve no metrics"
            )
        }
        guard let address = listen.address else {
            throw reader.error(
                "listen",
                "\"\(listen.host)\" is not an IP address; write the management address itself, e.g. \"192.0.2.1:9100\""
            )
        }
        guard address.bytes.contains(where: { $0 != 0 }) else {
            throw reader.error(
                "listen",
                "\(listen) listens on every address, the tunnel's too; metrics must be served on the management "
                    + "address only, e.g. \"192.0.2.1:9100\""
            )
        }
        func inTunnel(_ what: String) -> ConfigError {
            reader.error(
                "listen",
                "\(address) \(what); peers must never reach metrics, so serve them on the management address only, "
                    + "e.g. \"192.0.2.1:9100\""
            )
        }
        if address == wireguard.address.address { throw inTunnel("is the tunnel address (wireguard.address)") }
        if wireguard.address.contains(address) || wireguard.pool.contains(address) {
            throw inTunnel("is inside the tunnel (wireguard.address \(wireguard.address))")
        }
        try reader.rejectUnknownKeys()
        return MetricsSettings(listen: listen)
    }
}
