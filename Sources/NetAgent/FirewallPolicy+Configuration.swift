import Addressing
import Firewall
import Foundation
import PopConfig
import Registry
import RegistryLocations

#if canImport(Glibc)
import Glibc
#endif

extension FirewallPolicy {
    /// The policy `configuration` asks for: WireGuard's port on the uplink, the API port on the edge
    /// tunnel, the backends' addresses and ports on the backbone (and a PostgreSQL registry's),
    /// management as configured.
    ///
    /// Errors name the configuration key, and nothing has been changed when one is thrown.
    public init(_ settings: FirewallSettings, configuration: PopConfiguration) throws(NetAgentError) {
        var workers: [IPPrefix] = []
        var ports: [Int] = []
        for (index, backend) in configuration.backends.enumerated() {
            guard let url = URL(string: backend.url), let host = url.host(percentEncoded: false) else {
                throw NetAgentError("backends[\(index)].url: \"\(backend.url)\" has no host")
            }
            let literal = host.hasPrefix("[") ? String(host.dropFirst().dropLast()) : host
            guard let address = IPAddress(literal) else {
                throw NetAgentError(
                    "backends[\(index)].url: the host \"\(host)\" is a name, but the firewall opens the backbone by "
                        + "address; write the worker's IP address (or set [firewall] enabled = false)"
                )
            }
            let prefix = IPPrefix(address: address, length: address.bitWidth)!
            if !workers.contains(prefix) { workers.append(prefix) }
            let port = url.port ?? (url.scheme == "https" ? 443 : 80)
            if !ports.contains(port) { ports.append(port) }
        }
        var allowances: [OutputAllowance] = []
        if case .postgres(let database) = configuration.registry.location {
            // A fleet's registry is reached over the backbone like the workers: its one address and port.
            let literal = database.host
            guard let address = IPAddress(literal) else {
                throw NetAgentError(
                    "registry.url: the host \"\(literal)\" is a name, but the firewall opens the backbone by address; "
                        + "write the database server's IP address (or set [firewall] enabled = false)"
                )
            }
            allowances.append(OutputAllowance(
                interface: settings.backboneInterface, destination: IPPrefix(address: address, length: address.bitWidth)!,
                transport: .tcp, port: database.port
            ))
        }
        self.init(
            uplink: Uplink(interface: settings.uplinkInterface, wireGuardPorts: [configuration.wireguard.listenPort]),
            edge: Edge(
                interface: configuration.wireguard.interface, apiPort: configuration.gateway.listenPort,
                apiAddress: configuration.wireguard.address.address
            ),
            management: settings.management.map {
                Management(interface: $0.interface, allowedPrefixes: $0.prefixes, ports: $0.ports)
            },
            backbone: Backbone(interface: settings.backboneInterface, workerPrefixes: workers, ports: ports),
            outputAllowances: allowances
        )
        do { try validate() } catch { throw NetAgentError("[firewall]: \(error)") }
    }

    /// Refuses a policy that names an interface this node does not have (a typo would otherwise
    /// close the node to its clients or operators). The edge interface is exempt: popnetd creates it.
    public func checkInterfacesExist() throws(NetAgentError) {
        var named = [("firewall.uplink_interface", uplink.interface)]
        if let backbone { named.append(("firewall.backbone_interface", backbone.interface)) }
        if let management { named.append(("firewall.management_interface", management.interface)) }
        for (key, name) in named where if_nametoindex(name) == 0 {
            throw NetAgentError(
                "\(key) = \"\(name)\": this node has no such network interface (see `ip link`); nothing was changed"
            )
        }
    }
}
