import Addressing
import ArgumentParser
import Foundation
import Netlink
import Sodium
import WireGuard

/// Sets up one tunnel end with popgate's code only (no `wg`, no `ip`): link, address, key,
/// port and one peer. The tunnel tests then pass traffic through it.
struct Configure: ParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Configure one tunnel end with popgate's code.")

    @Option(help: "kernel or userspace.") var backend: BackendKind
    @Option(help: "The interface.") var interface: String
    @Option(help: "wireguard-go's socket directory.") var socketDirectory = "/var/run/wireguard"
    @Option(help: "File with this end's private key (wg genkey).") var privateKeyFile: String
    @Option(help: "UDP port.") var listenPort: Int
    @Option(help: "This end's tunnel address with prefix, e.g. 10.9.0.1/24.") var address: String
    @Option(help: "The other end's public key.") var peer: String
    @Option(help: "The other end's allowed IP, e.g. 10.9.0.2/32.") var allowedIP: String
    @Option(help: "The other end's endpoint, IP:PORT.") var endpoint: String?
    @Option(help: "A preshared key file (wg genpsk).") var presharedKeyFile: String?

    func run() throws {
        let device = try Device.open(backend, interface: interface, socketDirectory: socketDirectory)
        let key = try KeyFile.load(privateKeyFile)
        guard let prefix = IPPrefix(address), let allowed = IPPrefix(allowedIP) else {
            throw ValidationError("--address and --allowed-ip must be CIDR prefixes")
        }
        let psk = try presharedKeyFile.map { try String(contentsOfFile: $0, encoding: .utf8).trimmingCharacters(in: .whitespacesAndNewlines) }
        try device.apply(DeviceChange(
            privateKeyBase64: key.base64Secret(), listenPort: listenPort, replacePeers: true,
            upsertPeers: [
                PeerConfiguration(
                    publicKey: try Curve25519PublicKey(base64: peer), presharedKeyBase64: psk, allowedIPs: [allowed],
                    endpoint: endpoint.flatMap(SocketEndpoint.init), persistentKeepalive: nil
                ),
            ]
        ))
        try LinkControl().configure(name: interface, address: prefix, mtu: 1420)
        print("configured \(interface) (\(device.kind)): \(key.publicKey) port \(listenPort) peer \(peer)")
    }
}
