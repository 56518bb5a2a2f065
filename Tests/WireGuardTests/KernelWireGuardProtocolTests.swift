import Addressing
import Netlink
import Sodium
import Testing
import WireGuard

@Suite struct KernelWireGuardProtocolTests {
    static let family: UInt16 = 0x1c

    static func peers(_ count: Int, allowedIPs: Int = 1) -> [PeerConfiguration] {
        (0..<count).map { index in
            PeerConfiguration(
                publicKey: Curve25519PrivateKey().publicKey,
                presharedKeyBase64: index % 2 == 0 ? WireGuardTestKeys.psk : nil,
                allowedIPs: (0..<allowedIPs).map { IPPrefix("10.\(index / 250 % 250).\(index % 250).\($0 % 250)/32")! },
                persistentKeepalive: index % 3 == 0 ? 25 : nil
            )
        }
    }

    func encode(_ change: DeviceChange, max: Int = KernelWireGuardProtocol.defaultMaxMessageBytes) throws -> [[UInt8]] {
        var sequence: UInt32 = 100
        return try KernelWireGuardProtocol.setDeviceRequests(
            familyID: Self.family, interface: "wg-edge", change: change, maxMessageBytes: max,
            nextSequence: { sequence += 1; return sequence }
        ).map(\.bytes)
    }

    /// SET messages and GET replies share one attribute layout, so decoding what we encode
    /// must give back every peer exactly, with split peers merged.
    func decode(_ messages: [[UInt8]]) throws -> DeviceStatus {
        try KernelWireGuardProtocol.parseDevice(messages.flatMap { try NetlinkMessage.parseAll($0) })
    }

    @Test func tenThousandPeersFitFewMessagesAndDecodeExactly() throws {
        let peers = Self.peers(10_000)
        let messages = try encode(DeviceChange(listenPort: 51820, replacePeers: true, upsertPeers: peers))
        #expect(messages.allSatisfy { $0.count <= KernelWireGuardProtocol.defaultMaxMessageBytes })
        #expect(messages.count < 60, "10,000 peers took \(messages.count) messages")
        let device = try decode(messages)
        #expect(device.listenPort == 51820)
        #expect(device.peers.map(\.publicKey) == peers.map(\.publicKey))
        #expect(device.peers.map(\.allowedIPs) == peers.map(\.allowedIPs))
        #expect(device.peers.map(\.hasPresharedKey) == peers.map { $0.presharedKeyBase64 != nil })
        #expect(device.peers.map(\.persistentKeepalive) == peers.map(\.persistentKeepalive))
    }

    @Test func deviceAttributesAndReplacePeersOnlyInTheFirstMessage() throws {
        let messages = try encode(
            DeviceChange(privateKeyBase64: WireGuardTestKeys.psk, listenPort: 51820, replacePeers: true, upsertPeers: Self.peers(2000)),
            max: 4096
        )
        #expect(messages.count > 5)
        for (index, bytes) in messages.enumerated() {
            let message = try #require(try NetlinkMessage.parseAll(bytes).first)
            let (command, attributes) = try message.genericAttributes()
            #expect(command == 1)
            #expect(message.flags.contains(.ack))
            #expect(attributes.first(2)?.string() == "wg-edge")
            let deviceFields = attributes.map(\.type).filter { [3, 5, 6].contains($0) }
            #expect(deviceFields == (index == 0 ? [3, 6, 5] : []))
        }
    }

    @Test func aPeerWithManyAllowedIPsIsSplitAndContinuedWithoutReplacing() throws {
        let peer = Self.peers(1, allowedIPs: 400)[0]
        let messages = try encode(DeviceChange(upsertPeers: [peer]), max: 4096)
        #expect(messages.count > 1)
        for (index, bytes) in messages.enumerated() {
            let message = try #require(try NetlinkMessage.parseAll(bytes).first)
            let peers = try #require(try message.genericAttributes().attributes.first(8)).nested()
            let fields = try #require(peers.first).nested()
            // REPLACE_ALLOWEDIPS (flags = 2) only in the first part; later parts append.
            #expect((try fields.first(3)?.u32()) == (index == 0 ? 2 : nil))
        }
        let device = try decode(messages)
        #expect(device.peers.count == 1)
        #expect(device.peers[0].allowedIPs == peer.allowedIPs)
    }

    @Test func removalsCarryRemoveMe() throws {
        let key = Curve25519PrivateKey().publicKey
        let bytes = try #require(try encode(DeviceChange(removePeers: [key])).first)
        let message = try #require(try NetlinkMessage.parseAll(bytes).first)
        let peer = try #require(try message.genericAttributes().attributes.first(8)?.nested().first).nested()
        #expect(peer.first(1).map { Array($0.payload) } == key.rawBytes)
        #expect(try peer.first(3)?.u32() == 1)
    }

    @Test func endpointsEncodeAsSockaddr() throws {
        var peer = Self.peers(1)[0]
        peer.endpoint = SocketEndpoint("198.51.100.10:51821")
        let device = try decode(try encode(DeviceChange(upsertPeers: [peer])))
        #expect(device.peers[0].endpoint == SocketEndpoint("198.51.100.10:51821"))
        peer.endpoint = SocketEndpoint("pop.example.net:51820")
        #expect(throws: WireGuardError.self) { try encode(DeviceChange(upsertPeers: [peer])) }
    }
}

enum WireGuardTestKeys {
    static let psk = "zvyeX9jJ3acfEJ+C+Ueu9bxBb70hQ5i63GHCHXlHis4="
}

@Suite struct AllowedIPConflictTests {
    func peer(_ prefixes: String...) -> PeerConfiguration {
        PeerConfiguration(publicKey: Curve25519PrivateKey().publicKey, allowedIPs: prefixes.map { IPPrefix($0)! })
    }

    @Test func overlapsBetweenPeersAreFound() {
        let a = peer("10.77.0.0/24"), b = peer("10.77.0.9/32")
        let conflict = AllowedIPConflicts.first(in: [a, b])
        #expect(conflict?.first == a.publicKey && conflict?.second == b.publicKey)
        #expect(AllowedIPConflicts.first(in: [peer("10.77.0.2/32"), peer("10.77.0.2/32")]) != nil)
        #expect(AllowedIPConflicts.first(in: [peer("fd00::/64"), peer("fd00::1/128")]) != nil)
    }

    @Test func disjointPrefixesAndOnePeersOwnOverlapsPass() {
        #expect(AllowedIPConflicts.first(in: [peer("10.77.0.2/32"), peer("10.77.0.3/32"), peer("10.78.0.0/16")]) == nil)
        #expect(AllowedIPConflicts.first(in: [peer("10.77.0.0/24", "10.77.0.5/32")]) == nil)
        #expect(AllowedIPConflicts.first(in: [peer("10.0.0.0/8"), peer("fd00::/8")]) == nil)
        #expect(AllowedIPConflicts.first(in: (0..<2000).map { peer("10.64.\($0 / 250).\($0 % 250 + 1)/32") }) == nil)
    }

    @Test func aBackendRefusesAnOverlappingChangeBeforeSendingAnything() {
        // The socket directory does not exist: if the check did not come first, the error would be ENOENT.
        let backend = UserspaceBackend(interface: "pgnone0", socketDirectory: "/nonexistent")
        do {
            try backend.apply(DeviceChange(upsertPeers: [peer("10.77.0.0/24"), peer("10.77.0.7/32")]))
            Issue.record("expected a refusal")
        } catch {
            #expect(error.message.contains("overlaps"))
            #expect(error.errno == nil)
        }
    }
}
