import Addressing
import Foundation
import Netlink
import Sodium
import Testing
import WireGuard

/// Vectors captured from the real `wg` tool and the real kernel module (6.1) in the QEMU VM by
/// Tests/KernelVM/capture-vectors.sh; see that script to regenerate them.
@Suite struct KernelCaptureTests {
    static let directory = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
        .appendingPathComponent("Resources/kernel-capture")

    static func resource(_ name: String) throws -> Data {
        try Data(contentsOf: directory.appendingPathComponent(name))
    }

    @Test func setDeviceIsByteForByteWhatWgSetconfSends() throws {
        let captured = [UInt8](try Self.resource("wg-setconf-set-device.bin"))
        let header = try #require(try NetlinkMessage.parseAll(captured).first)
        let config = try WGQuickConfig.parse(String(decoding: try Self.resource("vectors.conf"), as: UTF8.self))
        let change = DeviceChange(
            privateKeyBase64: config.interface.privateKey?.base64Secret(), listenPort: config.interface.listenPort,
            firewallMark: 0, replacePeers: true,
            upsertPeers: config.peers.map {
                PeerConfiguration(
                    publicKey: $0.publicKey, presharedKeyBase64: $0.presharedKeyBase64, allowedIPs: $0.allowedIPs,
                    endpoint: $0.endpoint, persistentKeepalive: $0.persistentKeepalive
                )
            }
        )
        let ours = try KernelWireGuardProtocol.setDeviceRequests(
            familyID: header.type, interface: "wg0", change: change, nextSequence: { header.sequence }
        )
        #expect(ours.count == 1)
        #expect(ours.first?.bytes == captured)
    }

    @Test func aCapturedDumpWithASplitPeerDecodesToWhatWgShows() throws {
        let messages = try NetlinkMessage.parseAll([UInt8](try Self.resource("wg-showconf-dump.bin")))
        #expect(messages.count > 10, "the capture should span many messages")
        let device = try KernelWireGuardProtocol.parseDevice(messages.filter { $0.type != NetlinkConstants.done })
        let privateKey = try Curve25519PrivateKey(base64: "KBvFkfUKvOaSXmOF+ldrtcwWI1tdrELfN/aqRmRtUE4=")
        #expect(device.publicKey == privateKey.publicKey)
        #expect(device.listenPort == 51820)

        // `wg show wg0 dump` columns kept: public key, preshared key, allowed IPs, keepalive.
        let lines = String(decoding: try Self.resource("wg0.dump.peers"), as: UTF8.self).split(separator: "\n")
        #expect(device.peers.count == lines.count)
        for line in lines {
            let fields = line.split(separator: "\t").map(String.init)
            let peer = try #require(device.peers.first { $0.publicKey.base64 == fields[0] })
            #expect(peer.hasPresharedKey == (fields[1] != "(none)"))
            #expect(Set(peer.allowedIPs.map(\.description)) == Set(fields[2].split(separator: ",").map(String.init)))
            #expect(peer.persistentKeepalive == (fields[3] == "off" ? nil : Int(fields[3])))
        }
        let big = try #require(device.peers.first { $0.allowedIPs.count > 1000 })
        #expect(big.allowedIPs.count == 3000)
    }

    @Test func aCapturedDumpIsCollectedAndAnInterruptedOneIsFlaggedForRetry() throws {
        let raw = [UInt8](try Self.resource("wg-showconf-dump.bin"))
        let messages = try NetlinkMessage.parseAll(raw)
        let sequence = messages[0].sequence
        var collector = ReplyCollector(sequence: sequence, portID: messages[0].portID, operation: "WG_CMD_GET_DEVICE on wg0")
        var finished = false
        for message in messages where !finished { finished = try collector.consume(message) }
        #expect(finished)
        #expect(!collector.interrupted)
        #expect(collector.replies.count == messages.count - 1)

        // The same capture with NLM_F_DUMP_INTR set on one message in the middle, as the kernel
        // marks a dump during which the peer list changed.
        var torn = raw
        var offset = 0
        for _ in 0..<5 { offset += Int(torn[offset]) | Int(torn[offset + 1]) << 8 | Int(torn[offset + 2]) << 16 }
        torn[offset + 6] |= UInt8(NetlinkFlags.dumpInterrupted.rawValue)
        var tornCollector = ReplyCollector(sequence: sequence, portID: messages[0].portID, operation: "WG_CMD_GET_DEVICE on wg0")
        for message in try NetlinkMessage.parseAll(torn) { if try tornCollector.consume(message) { break } }
        #expect(tornCollector.interrupted)

        // A reply to another request is ignored, not mixed in.
        var other = ReplyCollector(sequence: sequence &+ 1, portID: messages[0].portID, operation: "x")
        #expect(try other.consume(messages[0]) == false)
        #expect(other.replies.isEmpty)
    }
}
