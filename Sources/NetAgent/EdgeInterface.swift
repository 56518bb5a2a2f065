import Foundation
import Logging
import Netlink
import PopConfig
import WireGuard

/// Brings up the edge interface with the chosen implementation, then sets its address, MTU and
/// link state over rtnetlink.
struct EdgeInterface {
    let settings: WireGuardSettings
    let logger: Logger

    var socketPath: String { "\(settings.userspaceSocketDirectory)/\(settings.interface).sock" }

    /// Ensures the device exists and is configured at the IP layer; returns its backend.
    func ensureUp() throws(NetAgentError) -> any WireGuardBackend {
        let backend: any WireGuardBackend
        switch settings.backend {
        case .kernel:
            backend = try kernelUp()
        case .userspace:
            backend = try userspaceUp()
        case .auto:
            backend = KernelBackend.isAvailable() ? try kernelUp() : try userspaceUp()
        }
        do {
            try LinkControl().configure(name: settings.interface, address: settings.address, mtu: settings.mtu)
            _ = try backend.status()
        } catch {
            throw NetAgentError("cannot configure \(settings.interface): \(error)")
        }
        return backend
    }

    private func kernelUp() throws(NetAgentError) -> any WireGuardBackend {
        do {
            try LinkControl().ensureLink(name: settings.interface, kind: "wireguard")
            return try KernelBackend(interface: settings.interface)
        } catch {
            throw NetAgentError("cannot set up kernel WireGuard on \(settings.interface): \(error)")
        }
    }

    private func userspaceUp() throws(NetAgentError) -> any WireGuardBackend {
        let backend = UserspaceBackend(interface: settings.interface, socketDirectory: settings.userspaceSocketDirectory)
        if (try? backend.status()) == nil {
            // A socket nobody answers on is left over from a crashed wireguard-go.
            try? FileManager.default.removeItem(atPath: socketPath)
            logger.info("starting wireguard-go", metadata: ["wg.interface": "\(settings.interface)"])
            // wireguard-go forks its daemon and exits once the TUN device and socket exist, so the
            // device outlives popnetd: a popnetd restart never drops client sessions.
            try DaemonLauncher.run(settings.userspaceCommand, [settings.interface])
        }
        return backend
    }
}
