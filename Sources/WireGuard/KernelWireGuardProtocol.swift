import Addressing
import Foundation
import Netlink
import Sodium

/// The generic netlink protocol of the kernel's WireGuard module (linux/wireguard.h), as pure
/// encoding and decoding.
///
/// A change is packed into as few WG_CMD_SET_DEVICE messages as fit `maxMessageBytes`: device
/// attributes and WGDEVICE_F_REPLACE_PEERS only in the first, a peer whose allowed IPs do not
/// fit continued in the next message (its flags and keys only in the first part, so the
/// continuation appends instead of replacing). Dumps of WG_CMD_GET_DEVICE are merged back the
/// same way: a peer split across messages appears once.
public enum KernelWireGuardProtocol {
    static let commandGetDevice: UInt8 = 0
    static let commandSetDevice: UInt8 = 1
    static let version: UInt8 = 1

    enum Device {
        static let ifindex: UInt16 = 1, ifname: UInt16 = 2, privateKey: UInt16 = 3, publicKey: UInt16 = 4
        static let flags: UInt16 = 5, listenPort: UInt16 = 6, fwmark: UInt16 = 7, peers: UInt16 = 8
        static let replacePeers: UInt32 = 1
    }

    enum PeerAttribute {
        static let publicKey: UInt16 = 1, presharedKey: UInt16 = 2, flags: UInt16 = 3, endpoint: UInt16 = 4
        static let keepalive: UInt16 = 5, lastHandshake: UInt16 = 6, rxBytes: UInt16 = 7, txBytes: UInt16 = 8
        static let allowedIPs: UInt16 = 9, protocolVersion: UInt16 = 10
        static let removeMe: UInt32 = 1, replaceAllowedIPs: UInt32 = 2, updateOnly: UInt32 = 4
    }

    enum AllowedIP {
        static let family: UInt16 = 1, address: UInt16 = 2, cidrMask: UInt16 = 3
    }

    /// Large enough to carry a few hundred peers per message, far below the socket's send
    /// buffer (wg uses one page; fewer, larger messages make a 10,000-peer apply cheaper).
    public static let defaultMaxMessageBytes = 32 * 1024

    /// The WG_CMD_GET_DEVICE dump request.
    public static func getDeviceRequest(familyID: UInt16, interface: String, sequence: UInt32) -> [UInt8] {
        var builder = NetlinkMessageBuilder(type: familyID, flags: [.request, .dump], sequence: sequence)
        builder.appendGenericHeader(command: commandGetDevice, version: version)
        builder.appendAttribute(Device.ifname, string: interface)
        return builder.finish()
    }

    /// The WG_CMD_SET_DEVICE messages for `change`; `nextSequence` numbers each message.
    public static func setDeviceRequests(
        familyID: UInt16, interface: String, change: DeviceChange, maxMessageBytes: Int = defaultMaxMessageBytes,
        nextSequence: () -> UInt32
    ) throws(WireGuardError) -> [(bytes: [UInt8], sequence: UInt32)] {
        var messages: [(bytes: [UInt8], sequence: UInt32)] = []
        var current: NetlinkMessageBuilder?
        var peersOpen = false

        func startMessage(first: Bool) throws(WireGuardError) {
            let sequence = nextSequence()
            var builder = NetlinkMessageBuilder(type: familyID, flags: [.request, .ack], sequence: sequence)
            builder.appendGenericHeader(command: commandSetDevice, version: version)
            builder.appendAttribute(Device.ifname, string: interface)
            if first {
                if let key = change.privateKeyBase64 { builder.appendAttribute(Device.privateKey, try rawKey(key, "private key")) }
                if let port = change.listenPort { builder.appendAttribute(Device.listenPort, u16: UInt16(port)) }
                if let mark = change.firewallMark { builder.appendAttribute(Device.fwmark, u32: mark) }
                if change.replacePeers { builder.appendAttribute(Device.flags, u32: Device.replacePeers) }
            }
            current = builder
            peersOpen = false
        }
        func flush() {
            guard var builder = current else { return }
            if peersOpen { builder.endNested() }
            messages.append((builder.finish(), readSequence(builder)))
            current = nil
        }
        func ensurePeersNest() {
            if !peersOpen {
                current!.beginNested(Device.peers)
                peersOpen = true
            }
        }
        /// Room left in the current message for `bytes` more, counting the nests still to close.
        func fits(_ bytes: Int) -> Bool { current!.count + bytes <= maxMessageBytes }

        try startMessage(first: true)
        for key in change.removePeers {
            ensurePeersNest()
            if !fits(48) { flush(); try startMessage(first: false); ensurePeersNest() }
            current!.beginNested(0)
            current!.appendAttribute(PeerAttribute.publicKey, key.rawBytes)
            current!.appendAttribute(PeerAttribute.flags, u32: PeerAttribute.removeMe)
            current!.endNested()
        }
        for peer in change.upsertPeers {
            var remaining = peer.allowedIPs[...]
            var firstPart = true
            repeat {
                ensurePeersNest()
                // Header of the peer: key, flags, psk, endpoint, keepalive (about 140 bytes).
                if !fits(160) { flush(); try startMessage(first: false); ensurePeersNest() }
                current!.beginNested(0)
                current!.appendAttribute(PeerAttribute.publicKey, peer.publicKey.rawBytes)
                // Attribute order as `wg` sends it, so captured messages are byte-for-byte vectors.
                if firstPart {
                    current!.appendAttribute(
                        PeerAttribute.presharedKey,
                        try peer.presharedKeyBase64.map { text throws(WireGuardError) in try rawKey(text, "preshared key") }
                            ?? [UInt8](repeating: 0, count: 32)
                    )
                    if let endpoint = peer.endpoint {
                        guard let address = endpoint.address else {
                            throw WireGuardError("peer \(peer.publicKey): endpoint \(endpoint) must be an IP address, not a name")
                        }
                        current!.appendAttribute(PeerAttribute.endpoint, sockaddr(address, port: endpoint.port))
                    }
                    current!.appendAttribute(PeerAttribute.keepalive, u16: UInt16(peer.persistentKeepalive ?? 0))
                    current!.appendAttribute(PeerAttribute.flags, u32: PeerAttribute.replaceAllowedIPs)
                }
                current!.beginNested(PeerAttribute.allowedIPs)
                while let prefix = remaining.first, fits(44) {
                    current!.beginNested(0)
                    current!.appendAttribute(AllowedIP.family, u16: prefix.address.isV4 ? 2 : 10)
                    current!.appendAttribute(AllowedIP.address, prefix.network.bytes)
                    current!.appendAttribute(AllowedIP.cidrMask, u8: UInt8(prefix.length))
                    current!.endNested()
                    remaining = remaining.dropFirst()
                }
                current!.endNested()
                current!.endNested()
                firstPart = false
                if !remaining.isEmpty { flush(); try startMessage(first: false) }
            } while !remaining.isEmpty
        }
        flush()
        return messages
    }

    /// Merges the messages of a WG_CMD_GET_DEVICE dump into one device.
    public static func parseDevice(_ messages: [NetlinkMessage]) throws(NetlinkError) -> DeviceStatus {
        var device = DeviceStatus(publicKey: nil, listenPort: nil, peers: [])
        for message in messages {
            let (_, attributes) = try message.genericAttributes()
            for attribute in attributes {
                switch attribute.type {
                case Device.publicKey:
                    if attribute.payload.contains(where: { $0 != 0 }) {
                        device.publicKey = try? Curve25519PublicKey(rawBytes: Array(attribute.payload))
                    }
                case Device.listenPort:
                    device.listenPort = Int(try attribute.u16())
                case Device.peers:
                    for peerAttribute in try attribute.nested() {
                        let peer = try parsePeer(try peerAttribute.nested())
                        if let last = device.peers.last, last.publicKey == peer.publicKey {
                            // The kernel split this peer's allowed IPs across two messages.
                            device.peers[device.peers.count - 1].allowedIPs += peer.allowedIPs
                        } else {
                            device.peers.append(peer)
                        }
                    }
                default:
                    continue
                }
            }
        }
        return device
    }

    private static func parsePeer(_ attributes: [NetlinkAttribute]) throws(NetlinkError) -> PeerStatus {
        guard let keyAttribute = attributes.first(PeerAttribute.publicKey),
              let key = try? Curve25519PublicKey(rawBytes: Array(keyAttribute.payload))
        else { throw NetlinkError.malformed("a WireGuard peer without a 32-byte public key") }
        var peer = PeerStatus(
            publicKey: key, hasPresharedKey: false, presharedKeyFingerprint: nil, endpoint: nil, allowedIPs: [],
            lastHandshake: nil, rxBytes: 0, txBytes: 0, persistentKeepalive: nil
        )
        for attribute in attributes {
            switch attribute.type {
            case PeerAttribute.presharedKey:
                if attribute.payload.contains(where: { $0 != 0 }) {
                    peer.hasPresharedKey = true
                    peer.presharedKeyFingerprint = presharedKeyFingerprint(base64: Data(attribute.payload).base64EncodedString())
                }
            case PeerAttribute.endpoint:
                peer.endpoint = endpoint(from: attribute.payload)
            case PeerAttribute.keepalive:
                let seconds = Int(try attribute.u16())
                peer.persistentKeepalive = seconds == 0 ? nil : seconds
            case PeerAttribute.lastHandshake:
                guard attribute.payload.count == 16 else { continue }
                let seconds = Int64(bitPattern: readLittleEndian(attribute.payload, 0))
                let nanoseconds = Int64(bitPattern: readLittleEndian(attribute.payload, 8))
                if seconds != 0 || nanoseconds != 0 {
                    peer.lastHandshake = Date(timeIntervalSince1970: TimeInterval(seconds) + TimeInterval(nanoseconds) / 1e9)
                }
            case PeerAttribute.rxBytes:
                peer.rxBytes = try attribute.u64()
            case PeerAttribute.txBytes:
                peer.txBytes = try attribute.u64()
            case PeerAttribute.allowedIPs:
                for entry in try attribute.nested() {
                    let fields = try entry.nested()
                    guard let addressBytes = fields.first(AllowedIP.address), let mask = try fields.first(AllowedIP.cidrMask)?.u8(),
                          let address = IPAddress(bytes: Array(addressBytes.payload)),
                          let prefix = IPPrefix(address: address, length: Int(mask))
                    else { throw NetlinkError.malformed("a malformed allowed IP of peer \(key)") }
                    peer.allowedIPs.append(prefix)
                }
            default:
                continue
            }
        }
        return peer
    }

    /// `struct sockaddr_in` / `sockaddr_in6` as the kernel expects: family in host order, port
    /// in network order.
    static func sockaddr(_ address: IPAddress, port: Int) -> [UInt8] {
        let portBytes = [UInt8(port >> 8), UInt8(port & 0xff)]
        switch address {
        case .v4:
            return [2, 0] + portBytes + address.bytes + [UInt8](repeating: 0, count: 8)
        case .v6:
            return [10, 0] + portBytes + [0, 0, 0, 0] + address.bytes + [0, 0, 0, 0]
        }
    }

    static func endpoint(from bytes: ArraySlice<UInt8>) -> SocketEndpoint? {
        let raw = Array(bytes)
        guard raw.count >= 8 else { return nil }
        let family = UInt16(raw[0]) | UInt16(raw[1]) << 8
        let port = Int(raw[2]) << 8 | Int(raw[3])
        switch family {
        case 2: return IPAddress(bytes: Array(raw[4..<8])).map { SocketEndpoint(host: $0.description, port: port) }
        case 10 where raw.count >= 24: return IPAddress(bytes: Array(raw[8..<24])).map { SocketEndpoint(host: $0.description, port: port) }
        default: return nil
        }
    }

    private static func readLittleEndian(_ bytes: ArraySlice<UInt8>, _ offset: Int) -> UInt64 {
        var value: UInt64 = 0
        for index in 0..<8 { value |= UInt64(bytes[bytes.startIndex + offset + index]) << (8 * index) }
        return value
    }

    private static func readSequence(_ builder: NetlinkMessageBuilder) -> UInt32 {
        let bytes = builder.bytes
        return UInt32(bytes[8]) | UInt32(bytes[9]) << 8 | UInt32(bytes[10]) << 16 | UInt32(bytes[11]) << 24
    }

    private static func rawKey(_ base64: String, _ what: String) throws(WireGuardError) -> [UInt8] {
        guard let data = Data(base64Encoded: base64), data.count == 32 else {
            throw WireGuardError("the \(what) is not 32 bytes of base64")
        }
        return [UInt8](data)
    }
}
