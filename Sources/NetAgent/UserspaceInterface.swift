import Addressing
import Foundation
import Logging
import PopConfig
import WireGuard

/// Brings up the edge interface with wireguard-go: starts it when its UAPI socket is missing
/// or dead, then sets the address, MTU and link state.
///
/// Address and link changes use iproute2 for now; the rtnetlink code of the kernel backend
/// will replace this (docs/architecture.md, "Interface setup").
struct UserspaceInterface {
    let settings: WireGuardSettings
    let logger: Logger

    var socketPath: String { "\(settings.userspaceSocketDirectory)/\(settings.interface).sock" }

    /// Ensures the device exists and is configured at the IP layer; returns its backend.
    func ensureUp() throws(NetAgentError) -> UserspaceBackend {
        let backend = UserspaceBackend(interface: settings.interface, socketDirectory: settings.userspaceSocketDirectory)
        if (try? backend.status()) == nil {
            // A socket nobody answers on is left over from a crashed wireguard-go.
            try? FileManager.default.removeItem(atPath: socketPath)
            logger.info("starting wireguard-go", metadata: ["wg.interface": "\(settings.interface)"])
            // wireguard-go forks its daemon and exits once the TUN device and socket exist, so the
            // device outlives popnetd: a popnetd restart never drops client sessions.
            try DaemonLauncher.run(settings.userspaceCommand, [settings.interface])
        }
        try HostCommand.run("ip", ["address", "replace", settings.address.description, "dev", settings.interface])
        try HostCommand.run("ip", ["link", "set", "dev", settings.interface, "mtu", "\(settings.mtu)", "up"])
        do {
            _ = try backend.status()
        } catch {
            throw NetAgentError("wireguard-go for \(settings.interface) does not answer on \(socketPath): \(error)")
        }
        return backend
    }
}
