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
    ///
    /// Works on the reply's bytes rather than on Strings: popnetd reads the whole device every
    /// reconcile interval, and with 10,000 peers that is 100,000 lines a second.
    public static func parseGetResponse(_ text: String, interface: String) throws(WireGuardError) -> DeviceStatus {
        let bytes = Array(text.utf8)
        var device = DeviceStatus(publicKey: nil, listenPort: nil, peers: [])
        var current: PeerStatus?
        func finishPeer() {
            if let peer = current { device.peers.append(peer) }
            current = nil
        }
        var lineStart = 0
        while lineStart < bytes.count {
            let lineEnd = bytes[lineStart...].firstIndex(of: newline) ?? bytes.count
            defer { lineStart = lineEnd + 1 }
            guard lineEnd > lineStart else { continue }
            let line = bytes[lineStart..<lineEnd]
            guard let equals = line.firstIndex(of: UInt8(ascii: "=")) else {
                throw WireGuardError("unexpected line in the UAPI reply of \(interface): no '='")
            }
            let key = line[..<equals]
            let value = line[(equals + 1)...]
            if key.elementsEqual("public_key".utf8) {
                finishPeer()
                guard let key = try? Curve25519PublicKey(rawBytes: try rawKey(value, what: "public key")) else { continue }
                current = PeerStatus(
                    publicKey: key, hasPresharedKey: false, presharedKeyFingerprint: nil, endpoint: nil, allowedIPs: [],
                    lastHandshake: nil, rxBytes: 0, txBytes: 0, persistentKeepalive: nil
                )
            } else if key.elementsEqual("allowed_ip".utf8) {
                if let prefix = IPPrefix(String(decoding: value, as: UTF8.self)) { current?.allowedIPs.append(prefix) }
            } else if key.elementsEqual("preshared_key".utf8) {
                if value.contains(where: { $0 != UInt8(ascii: "0") }) {
                    current?.hasPresharedKey = true
                    current?.presharedKeyFingerprint = presharedKeyFingerprint(
                        base64: Data(try rawKey(value, what: "preshared key")).base64EncodedString()
                    )
                }
            } else if key.elementsEqual("rx_bytes".utf8) {
                current?.rxBytes = decimal(value) ?? 0
            } else if key.elementsEqual("tx_bytes".utf8) {
                current?.txBytes = decimal(value) ?? 0
            } else if key.elementsEqual("last_handshake_time_sec".utf8) {
                let seconds = decimal(value) ?? 0
                current?.lastHandshake = seconds == 0 ? nil : Date(timeIntervalSince1970: TimeInterval(seconds))
            } else if key.elementsEqual("persistent_keepalive_interval".utf8) {
                let seconds = decimal(value) ?? 0
                current?.persistentKeepalive = seconds == 0 ? nil : Int(clamping: seconds)
            } else if key.elementsEqual("endpoint".utf8) {
                current?.endpoint = SocketEndpoint(String(decoding: value, as: UTF8.self))
            } else if key.elementsEqual("errno".utf8) {
                let code = Int32(String(decoding: value, as: UTF8.self)) ?? -1
                if code != 0 {
                    throw WireGuardError("wireguard-go refused reading \(interface): errno \(code)", errno: code)
                }
            } else if key.elementsEqual("private_key".utf8) {
                let raw = try rawKey(value, what: "private key")
                device.publicKey = try? Curve25519PrivateKey(base64: Data(raw).base64EncodedString()).publicKey
            } else if key.elementsEqual("listen_port".utf8) {
                device.listenPort = decimal(value).map { Int(clamping: $0) }
            }
            // Anything else (fwmark, protocol_version, last_handshake_time_nsec) is not needed.
        }
        finishPeer()
        return device
    }

    private static let newline = UInt8(ascii: "\n")

    /// An unsigned decimal, or nil when it is not one (or does not fit).
    private static func decimal(_ digits: ArraySlice<UInt8>) -> UInt64? {
        guard !digits.isEmpty else { return nil }
        var value: UInt64 = 0
        for digit in digits {
            guard digit >= UInt8(ascii: "0"), digit <= UInt8(ascii: "9") else { return nil }
            let (times10, overflow1) = value.multipliedReportingOverflow(by: 10)
            let (sum, overflow2) = times10.addingReportingOverflow(UInt64(digit - UInt8(ascii: "0")))
            guard !overflow1, !overflow2 else { return nil }
            value = sum
        }
        return value
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

    private static func rawKey(_ hex: ArraySlice<UInt8>, what: String) throws(WireGuardError) -> [UInt8] {
        guard let bytes = Hex.decode(bytes: hex), bytes.count == 32 else {
            throw WireGuardError("the UAPI reply holds a malformed \(what) (expected 64 hex digits)")
        }
        return bytes
    }
}
