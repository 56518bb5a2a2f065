import Addressing
import Foundation
import Sodium

/// The cross-platform userspace API of wireguard-go (https://www.wireguard.com/xplatform/):
/// `get=1` / `set=1` followed by `key=value` lines and an empty line; keys travel as hex.
///
/// Pure encoding and parsing, separate from the socket, so both are tested byte for byte.
public enum UAPIProtocol {
    /// The request that reads the whole device.
    public static let getRequest = "get=1\n\n"

    /// The `set=1` request for `change`.
    public static func setRequest(_ change: DeviceChange) throws(WireGuardError) -> String {
        var lines = ["set=1"]
        if let key = change.privateKeyBase64 { lines.append("private_key=\(try hexKey(key, what: "private key"))") }
        if let port = change.listenPort { lines.append("listen_port=\(port)") }
        if let mark = change.firewallMark { lines.append("fwmark=\(mark)") }
        if change.replacePeers { lines.append("replace_peers=true") }
        for peer in change.removePeers {
            lines.append("public_key=\(Hex.encode(peer.rawBytes))")
            lines.append("remove=true")
        }
        for peer in change.upsertPeers {
            lines.append("public_key=\(Hex.encode(peer.publicKey.rawBytes))")
            // An all-zero preshared key is how UAPI clears one.
            let psk = try peer.presharedKeyBase64.map { text throws(WireGuardError) in try hexKey(text, what: "preshared key") }
            lines.append("preshared_key=\(psk ?? String(repeating: "0", count: 64))")
            if let endpoint = peer.endpoint { lines.append("endpoint=\(endpoint)") }
            lines.append("persistent_keepalive_interval=\(peer.persistentKeepalive ?? 0)")
            lines.append("replace_allowed_ips=true")
            for prefix in peer.allowedIPs { lines.append("allowed_ip=\(prefix.network)/\(prefix.length)") }
        }
        return lines.joined(separator: "\n") + "\n\n"
    }

    /// Parses the reply to ``getRequest``; throws when the device reported an errno.
    public static func parseGetResponse(_ text: String, interface: String) throws(WireGuardError) -> DeviceStatus {
        var device = DeviceStatus(publicKey: nil, listenPort: nil, peers: [])
        var current: PeerStatus?
        func finishPeer() {
            if let peer = current { device.peers.append(peer) }
            current = nil
        }
        for rawLine in text.split(separator: "\n", omittingEmptySubsequences: true) {
            guard let equals = rawLine.firstIndex(of: "=") else {
                throw WireGuardError("unexpected line in the UAPI reply of \(interface): no '='")
            }
            let key = rawLine[..<equals]
            let value = String(rawLine[rawLine.index(after: equals)...])
            switch key {
            case "errno":
                let code = Int32(value) ?? -1
                if code != 0 {
                    throw WireGuardError("wireguard-go refused reading \(interface): errno \(code)", errno: code)
                }
            case "private_key":
                let bytes = try rawKey(value, what: "private key")
                device.publicKey = try? Curve25519PrivateKey(base64: Data(bytes).base64EncodedString()).publicKey
            case "listen_port":
                device.listenPort = Int(value)
            case "public_key":
                finishPeer()
                guard let key = try? Curve25519PublicKey(rawBytes: try rawKey(value, what: "public key")) else { continue }
                current = PeerStatus(
                    publicKey: key, hasPresharedKey: false, presharedKeyFingerprint: nil, endpoint: nil, allowedIPs: [],
                    lastHandshake: nil, rxBytes: 0, txBytes: 0, persistentKeepalive: nil
                )
            case "preshared_key":
                if value != String(repeating: "0", count: 64) {
                    current?.hasPresharedKey = true
                    current?.presharedKeyFingerprint = presharedKeyFingerprint(
                        base64: Data(try rawKey(value, what: "preshared key")).base64EncodedString()
                    )
                }
            case "endpoint":
                current?.endpoint = SocketEndpoint(value)
            case "allowed_ip":
                if let prefix = IPPrefix(value) { current?.allowedIPs.append(prefix) }
            case "last_handshake_time_sec":
                let handshakeSeconds = Int64(value) ?? 0
                current?.lastHandshake = handshakeSeconds == 0 ? nil : Date(timeIntervalSince1970: TimeInterval(handshakeSeconds))
            case "rx_bytes":
                current?.rxBytes = UInt64(value) ?? 0
            case "tx_bytes":
                current?.txBytes = UInt64(value) ?? 0
            case "persistent_keepalive_interval":
                let seconds = Int(value) ?? 0
                current?.persistentKeepalive = seconds == 0 ? nil : seconds
            default:
                continue  // fwmark, protocol_version, last_handshake_time_nsec: not needed
            }
        }
        finishPeer()
        return device
    }

    /// Checks the reply to a `set=1` request.
    public static func checkSetResponse(_ text: String, interface: String) throws(WireGuardError) {
        guard let line = text.split(separator: "\n").first(where: { $0.hasPrefix("errno=") }) else {
            throw WireGuardError("wireguard-go sent no errno line after configuring \(interface)")
        }
        let code = Int32(line.dropFirst("errno=".count)) ?? -1
        guard code == 0 else {
            throw WireGuardError(
                "wireguard-go refused the configuration of \(interface): errno \(code) (\(String(cString: strerror(code))))",
                errno: code
            )
        }
    }

    private static func hexKey(_ base64: String, what: String) throws(WireGuardError) -> String {
        guard let data = Data(base64Encoded: base64), data.count == 32 else {
            throw WireGuardError("the \(what) is not 32 bytes of base64")
        }
        return Hex.encode(data)
    }

    private static func rawKey(_ hex: String, what: String) throws(WireGuardError) -> [UInt8] {
        guard let bytes = Hex.decode(hex), bytes.count == 32 else {
            throw WireGuardError("the UAPI reply holds a malformed \(what) (expected 64 hex digits)")
        }
        return bytes
    }
}
