import Addressing
import ArgumentParser
import Foundation
import NetAgent
@testable import PopCtl
import Registry
import Sodium
import Testing
import WireGuard

/// `peer add --expires`, `peer rotate`, `status` and the live columns of `peer list`, in-process
/// against a throwaway registry, key and status socket.
@Suite struct PeerLifecycleCommandTests {
    let pop: ScratchPoP
    var directory: String { pop.directory }
    var configPath: String { pop.configPath }
    var socketPath: String { directory + "/run/popnetd.sock" }

    init() throws {
        pop = try ScratchPoP("lifecycle") { directory in "[netd]\nrun_directory = \"\(directory)/run\"" }
        try FileManager.default.createDirectory(atPath: pop.directory + "/run", withIntermediateDirectories: true)
        try popctl("tenant", "add", "acme")
    }

    func popctl(_ arguments: String...) throws { try pop.popctl(arguments) }

    var store: RegistryStore { get throws { try pop.store } }

    func config(_ name: String) throws -> WGQuickConfig {
        try WGQuickConfig.parse(String(contentsOfFile: directory + "/" + name, encoding: .utf8))
    }

    @Test func anExpiryIsStoredAndAPastOneRefusedWithoutAChange() throws {
        let before = Date()
        try popctl(
            "peer", "add", "--tenant", "acme", "--name", "temp", "--expires", "30d", "--output", directory + "/t.conf"
        )
        let expiresAt = try #require(try store.peers().first?.expiresAt)
        #expect(abs(expiresAt.timeIntervalSince(before.addingTimeInterval(30 * 86_400))) < 5)

        let revision = try store.revision()
        #expect {
            try popctl(
                "peer", "add", "--tenant", "acme", "--name", "late", "--expires", "2020-01-01",
                "--output", directory + "/l.conf"
            )
        } throws: { "\($0)".contains("not in the future") }
        #expect(try store.revision() == revision)
        #expect(!FileManager.default.fileExists(atPath: directory + "/l.conf"))
    }

    @Test func rotateIssuesACompleteConfigForTheSameAddress() throws {
        try popctl("peer", "add", "--tenant", "acme", "--name", "laptop", "--output", directory + "/old.conf")
        try popctl("peer", "rotate", "laptop", "--output", directory + "/new.conf", "--grace", "2h")
        let old = try config("old.conf")
        let new = try config("new.conf")
        let peer = try #require(try store.peers().first)
        let rotation = try #require(peer.rotation)

        #expect(old.interface.privateKey?.publicKey == peer.publicKey)
        #expect(new.interface.privateKey?.publicKey == rotation.publicKey)
        #expect(new.interface.addresses.map(\.description) == old.interface.addresses.map(\.description))
        #expect(new.peers.first?.publicKey == old.peers.first?.publicKey)
        #expect(new.peers.first?.allowedIPs.map(\.description) == ["10.77.0.1/32"])
        #expect(new.peers.first?.presharedKeyBase64 == rotation.presharedKey?.base64Secret())
        #expect(new.peers.first?.presharedKeyBase64 != old.peers.first?.presharedKeyBase64)
        #expect(abs(rotation.deadline.timeIntervalSince(rotation.startedAt) - 7200) < 0.001)
        let mode = try FileManager.default.attributesOfItem(atPath: directory + "/new.conf")[.posixPermissions] as? Int
        #expect(mode == 0o600)
    }

    @Test func rotateWithTheClientsOwnKeyAndBadInputChangeNothingElse() throws {
        try popctl("peer", "add", "--tenant", "acme", "--name", "laptop", "--output", directory + "/old.conf")
        let revision = try store.revision()
        #expect(throws: RegistryError.self) {
            try popctl("peer", "rotate", "nobody", "--output", directory + "/x.conf")
        }
        #expect { try popctl("peer", "rotate", "laptop", "--grace", "0s") } throws: { "\($0)".contains("--grace") }
        #expect { try popctl("peer", "rotate", "laptop", "--public-key", "short") } throws: {
            "\($0)".contains("--public-key")
        }
        #expect { try popctl("peer", "rotate", "laptop", "--output", directory + "/old.conf") } throws: {
            "\($0)".contains("already exists")
        }
        #expect(try store.revision() == revision)
        #expect(!FileManager.default.fileExists(atPath: directory + "/x.conf"))

        let own = Curve25519PrivateKey().publicKey
        try popctl("peer", "rotate", "laptop", "--public-key", own.base64, "--output", directory + "/byo.conf")
        #expect(try store.peers().first?.rotation?.publicKey == own)
        #expect(try config("byo.conf").interface.privateKey == nil)
    }

    @Test func statusAndPeerListReadPopnetdsRealStatusSocket() throws {
        try popctl("peer", "add", "--tenant", "acme", "--name", "laptop", "--output", directory + "/old.conf")
        let peer = try #require(try store.peers().first)
        var document = StatusDocument(backend: "userspace", interface: "wg-edge", listenPort: 51820, publicKey: "pop=")
        document.peersDesired = 1
        document.peersOnDevice = 1
        document.lastReconcile = Date(timeIntervalSince1970: 1_900_000_000)
        document.driftRepairs = 2
        document.reconciles = 9
        document.peers = [StatusDocument.PeerEntry(PeerStatus(
            publicKey: peer.publicKey, hasPresharedKey: true, presharedKeyFingerprint: nil,
            endpoint: .init("198.51.100.10:51000"), allowedIPs: [],
            lastHandshake: Date(timeIntervalSince1970: 1_899_999_990), rxBytes: 2048, txBytes: 3 << 20,
            persistentKeepalive: nil
        ))]
        let socket = try StatusSocket(path: socketPath)
        defer { socket.close() }
        let served = document
        Thread { socket.serve { served.encoded() } }.start()
        let raw = try StatusSocketClient.fetch(socketPath)
        let status = try PopnetdStatus.decode(raw, from: socketPath)
        let now = Date(timeIntervalSince1970: 1_900_000_000)

        let text = try StatusCommand.render(status, raw: raw, json: false, now: now)
        let expected = [
            "backend            userspace", "listen port        51820", "peers              1 desired, 1 on the device",
            "last reconcile     2030-03-17T17:46:40Z (0s ago)", "last error         none", "drift repairs      2",
        ]
        for line in expected {
            #expect(text.contains(line), "\(line) in:\n\(text)")
        }
        let json = try StatusCommand.render(status, raw: raw, json: true, now: now)
        #expect(json.contains("\"drift_repairs\" : 2"))

        let listing = PeerListing(peer: peer, device: status.peers.first)
        let table = try PeerCommand.List.render([listing], json: false, now: now)
        #expect(table.contains("LAST HANDSHAKE"))
        #expect(table.contains("10s ago") && table.contains("198.51.100.10:51000"))
        #expect(table.contains("2.0 KiB") && table.contains("3.0 MiB"))
        let rendered = try PeerCommand.List.render([listing], json: true, now: now)
        let object = try #require(try JSONSerialization.jsonObject(with: Data(rendered.utf8)) as? [[String: Any]])
        #expect(object.first?["rx_bytes"] as? Int == 2048)
        #expect(object.first?["endpoint"] as? String == "198.51.100.10:51000")
        #expect(object.first?["last_handshake"] as? String == "2030-03-17T17:46:30Z")
    }

    @Test func withoutPopnetdTheLiveColumnsAreUnknown() throws {
        try popctl("peer", "add", "--tenant", "acme", "--name", "laptop", "--output", directory + "/old.conf")
        #expect { try StatusSocketClient.fetch(socketPath) } throws: { "\($0)".contains("popnetd is not running") }
        #expect { try popctl("status") } throws: { "\($0)".contains("popnetd is not running") }
        let listing = PeerListing(peer: try #require(try store.peers().first), device: nil)
        let row = try PeerCommand.List.render([listing], json: false, now: Date()).split(separator: "\n")[1]
        #expect(row.hasSuffix("-               -         -   -"))
        let json = try PeerCommand.List.render([listing], json: true, now: Date())
        #expect(json.contains("\"last_handshake\" : null") && json.contains("\"rx_bytes\" : null"))
    }
}
