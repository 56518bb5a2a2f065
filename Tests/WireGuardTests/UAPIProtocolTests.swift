import Addressing
import Foundation
import Sodium
import Testing
import WireGuard

@Suite struct UAPIProtocolTests {
    static let peerKey = try! Curve25519PublicKey(base64: "oQ8lnlJq8GdrJ7pyiMJDdaOeYY5Iu+AN3119/GbWSWg=")

    // Captured from the real tool: a fake UAPI socket at /var/run/wireguard/pgcap0.sock recorded what
    // `wg set pgcap0 private-key priv listen-port 51820 peer oQ8l…SWg= preshared-key psk
    //  allowed-ips 10.77.0.2/32 persistent-keepalive 0` sent.
    static let capturedSet = """
        set=1
        private_key=281bc591f50abce6925e6385fa576bb5cc16235b5dac42df37f6aa46646d504e
        listen_port=51820
        public_key=a10f259e526af0676b27ba7288c24375a39e618e48bbe00ddf5d7dfc66d64968
        preshared_key=cefc9e5fd8c9dda71f109f82f947aef5bc416fbd214398badc61c21d79478ace
        persistent_keepalive_interval=0
        replace_allowed_ips=true
        allowed_ip=10.77.0.2/32


        """

    // Captured the same way from `wg set pgcap0 peer 5aQp…IHQ= remove`.
    static let capturedRemove = """
        set=1
        public_key=e5a429a548d8d0ae461c0c874a5e2926e4247b77f3d3af2f27cca726e1c62074
        remove=true


        """

    @Test func setRequestIsByteForByteWhatWgSends() throws {
        let change = DeviceChange(
            privateKeyBase64: "KBvFkfUKvOaSXmOF+ldrtcwWI1tdrELfN/aqRmRtUE4=", listenPort: 51820,
            upsertPeers: [
                PeerConfiguration(
                    publicKey: Self.peerKey, presharedKeyBase64: "zvyeX9jJ3acfEJ+C+Ueu9bxBb70hQ5i63GHCHXlHis4=",
                    allowedIPs: [IPPrefix("10.77.0.2/32")!]
                ),
            ]
        )
        #expect(try UAPIProtocol.setRequest(change) == Self.capturedSet)
    }

    @Test func removeRequestIsByteForByteWhatWgSends() throws {
        let key = try Curve25519PublicKey(base64: "5aQppUjY0K5GHAyHSl4pJuQke3fz068vJ8ynJuHGIHQ=")
        #expect(try UAPIProtocol.setRequest(DeviceChange(removePeers: [key])) == Self.capturedRemove)
    }

    @Test func parsesAGetReply() throws {
        let reply = """
            private_key=281bc591f50abce6925e6385fa576bb5cc16235b5dac42df37f6aa46646d504e
            listen_port=51820
            public_key=a10f259e526af0676b27ba7288c24375a39e618e48bbe00ddf5d7dfc66d64968
            preshared_key=cefc9e5fd8c9dda71f109f82f947aef5bc416fbd214398badc61c21d79478ace
            protocol_version=1
            endpoint=198.51.100.10:40000
            last_handshake_time_sec=1700000000
            last_handshake_time_nsec=5
            tx_bytes=100
            rx_bytes=200
            persistent_keepalive_interval=0
            allowed_ip=10.77.0.2/32
            public_key=e5a429a548d8d0ae461c0c874a5e2926e4247b77f3d3af2f27cca726e1c62074
            preshared_key=0000000000000000000000000000000000000000000000000000000000000000
            last_handshake_time_sec=0
            allowed_ip=10.77.0.3/32
            errno=0


            """
        let device = try UAPIProtocol.parseGetResponse(reply, interface: "wg-edge")
        let privateKey = try Curve25519PrivateKey(base64: "KBvFkfUKvOaSXmOF+ldrtcwWI1tdrELfN/aqRmRtUE4=")
        #expect(device.publicKey == privateKey.publicKey)
        #expect(device.listenPort == 51820)
        #expect(device.peers.count == 2)
        #expect(device.peers[0].publicKey == Self.peerKey)
        #expect(device.peers[0].hasPresharedKey)
        #expect(device.peers[0].presharedKeyFingerprint == presharedKeyFingerprint(base64: "zvyeX9jJ3acfEJ+C+Ueu9bxBb70hQ5i63GHCHXlHis4="))
        #expect(device.peers[0].endpoint == SocketEndpoint("198.51.100.10:40000"))
        #expect(device.peers[0].rxBytes == 200 && device.peers[0].txBytes == 100)
        #expect(device.peers[0].lastHandshake?.timeIntervalSince1970 == 1_700_000_000)
        #expect(!device.peers[1].hasPresharedKey)
        #expect(device.peers[1].lastHandshake == nil)
        #expect(device.peers[1].allowedIPs == [IPPrefix("10.77.0.3/32")!])
    }

    @Test func reportsTheDevicesErrno() {
        #expect(throws: WireGuardError.self) { try UAPIProtocol.parseGetResponse("errno=19\n\n", interface: "wg-edge") }
        #expect(throws: WireGuardError.self) { try UAPIProtocol.checkSetResponse("errno=22\n\n", interface: "wg-edge") }
        #expect(throws: Never.self) { try UAPIProtocol.checkSetResponse("errno=0\n\n", interface: "wg-edge") }
    }

    @Test func anEmptyChangeSendsNothingAndMissingSocketsSayWhatToDo() {
        #expect(DeviceChange().isEmpty)
        let backend = UserspaceBackend(interface: "pg-none0", socketDirectory: "/nonexistent")
        #expect(throws: WireGuardError.self) { try backend.status() }
        do { _ = try backend.status() } catch {
            #expect(error.message.contains("wireguard-go running"))
        }
    }
}
