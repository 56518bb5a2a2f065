import Foundation
import Addressing
import Netlink
import WireGuard

/// Opens the backend for an interface, creating the kernel link when needed.
enum Device {
    static func open(_ kind: BackendKind, interface: String, socketDirectory: String) throws -> any WireGuardBackend {
        switch kind {
        case .kernel:
            try LinkControl().ensureLink(name: interface, kind: "wireguard")
            return try KernelBackend(interface: interface)
        case .userspace:
            // wireguard-go is started by the caller (`wireguard-go IFACE`); we only talk to it.
            return UserspaceBackend(interface: interface, socketDirectory: socketDirectory)
        }
    }
}

/// Runs the real `wg` tool.
enum WgTool {
    static func run(_ arguments: [String]) throws -> String {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: ["/usr/bin/wg", "/bin/wg", "/sbin/wg"].first { FileManager.default.fileExists(atPath: $0) } ?? "/usr/bin/wg")
        process.arguments = arguments
        let output = Pipe()
        process.standardOutput = output
        try process.run()
        let data = output.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        guard process.terminationStatus == 0 else { throw CheckFailure("`wg \(arguments.joined(separator: " "))` exited \(process.terminationStatus)") }
        return String(decoding: data, as: UTF8.self)
    }

    /// `wg show IFACE dump` as comparable records: key → (psk set, allowed IPs, keepalive).
    static func dump(_ interface: String) throws -> (listenPort: Int, peers: [String: PeerView]) {
        let lines = try run(["show", interface, "dump"]).split(separator: "\n")
        guard let first = lines.first else { throw CheckFailure("`wg show \(interface) dump` printed nothing") }
        let device = first.split(separator: "\t")
        var peers: [String: PeerView] = [:]
        for line in lines.dropFirst() {
            let fields = line.split(separator: "\t", omittingEmptySubsequences: false).map(String.init)
            guard fields.count >= 8 else { continue }
            peers[fields[0]] = PeerView(
                hasPresharedKey: fields[1] != "(none)",
                allowedIPs: fields[3] == "(none)" ? [] : Set(fields[3].split(separator: ",").map(String.init)),
                keepalive: fields[7] == "off" ? nil : Int(fields[7])
            )
        }
        return (Int(device.count > 2 ? device[2] : "0") ?? 0, peers)
    }
}

/// One peer as both views report it.
struct PeerView: Equatable {
    let hasPresharedKey: Bool
    let allowedIPs: Set<String>
    let keepalive: Int?

    init(hasPresharedKey: Bool, allowedIPs: Set<String>, keepalive: Int?) {
        self.hasPresharedKey = hasPresharedKey
        self.allowedIPs = allowedIPs
        self.keepalive = keepalive
    }

    init(_ peer: PeerConfiguration) {
        self.init(
            hasPresharedKey: peer.presharedKeyBase64 != nil, allowedIPs: Set(peer.allowedIPs.map(\.description)),
            keepalive: peer.persistentKeepalive
        )
    }

    init(_ peer: PeerStatus) {
        self.init(
            hasPresharedKey: peer.hasPresharedKey, allowedIPs: Set(peer.allowedIPs.map(\.description)),
            keepalive: peer.persistentKeepalive
        )
    }
}

struct CheckFailure: Error, CustomStringConvertible {
    let description: String
    init(_ description: String) { self.description = description }
}
