import ArgumentParser
import Foundation
import PopConfig
import PopCtl
import Registry
import Sodium
import Testing
import WireGuard

/// Runs popctl's commands in-process against a throwaway registry and key.
@Suite struct PopctlTests {
    let pop: ScratchPoP
    var directory: String { pop.directory }
    var configPath: String { pop.configPath }

    init() throws {
        pop = try ScratchPoP("popctl", address: "10.77.0.1/30")
    }

    func popctl(_ arguments: String...) throws { try pop.popctl(arguments) }

    var store: RegistryStore { get throws { try pop.store } }

    @Test func peerAddWritesAWorkingPrivateConfig() throws {
        try popctl("tenant", "add", "acme")
        let output = directory + "/laptop.conf"
        try popctl("peer", "add", "--tenant", "acme", "--name", "laptop", "--output", output)
        let text = try String(contentsOfFile: output, encoding: .utf8)
        let config = try WGQuickConfig.parse(text)
        let peer = try #require(try store.peers().first)
        #expect(config.interface.privateKey?.publicKey == peer.publicKey)
        #expect(config.interface.addresses.map(\.description) == ["10.77.0.2/32"])
        #expect(config.peers.first?.publicKey == (try KeyFile.load(directory + "/keys/wg-edge.key")).publicKey)
        #expect(config.peers.first?.allowedIPs.map(\.description) == ["10.77.0.1/32"])
        #expect(config.peers.first?.presharedKeyBase64 == peer.presharedKey?.base64Secret())
        let mode = try FileManager.default.attributesOfItem(atPath: output)[.posixPermissions] as? Int
        #expect(mode == 0o600)
    }

    @Test func aClientSuppliedPublicKeyIsRecordedAndNoPrivateKeyIsInvented() throws {
        try popctl("tenant", "add", "acme")
        let clientKey = Curve25519PrivateKey().publicKey
        let output = directory + "/byo.conf"
        try popctl("peer", "add", "--tenant", "acme", "--public-key", clientKey.base64, "--output", output)
        #expect(try store.peers().first?.publicKey == clientKey)
        #expect(try WGQuickConfig.parse(String(contentsOfFile: output, encoding: .utf8)).interface.privateKey == nil)
    }

    @Test func badInputChangesNothing() throws {
        try popctl("tenant", "add", "acme")
        let revision = try store.revision()
        #expect(throws: RegistryError.self) { try popctl("tenant", "add", "acme") }
        #expect(throws: RegistryError.self) { try popctl("peer", "add", "--tenant", "nobody") }
        #expect(throws: (any Error).self) { try popctl("peer", "add", "--tenant", "acme", "--public-key", "abc") }
        #expect(throws: (any Error).self) { try popctl("key", "create", "--tenant", "acme", "--tier", "warp") }
        // A /30 has one client address after the PoP's own.
        try popctl("peer", "add", "--tenant", "acme", "--name", "only", "--output", directory + "/only.conf")
        let afterOne = try store.revision()
        #expect(throws: RegistryError.self) {
            try popctl("peer", "add", "--tenant", "acme", "--name", "second", "--output", directory + "/second.conf")
        }
        #expect(!FileManager.default.fileExists(atPath: directory + "/second.conf"))
        #expect(try store.revision() == afterOne)
        #expect(afterOne == revision + 1)
    }

    @Test func anExistingOutputFileIsNeverOverwritten() throws {
        try popctl("tenant", "add", "acme")
        let output = directory + "/exists.conf"
        try "keep me".write(toFile: output, atomically: true, encoding: .utf8)
        #expect(throws: (any Error).self) { try popctl("peer", "add", "--tenant", "acme", "--output", output) }
        #expect(try String(contentsOfFile: output, encoding: .utf8) == "keep me")
        #expect(try store.peers().isEmpty)
    }

    @Test func anInvalidConfigNamesTheKey() throws {
        let valid = try String(contentsOfFile: configPath, encoding: .utf8)
        try (valid + "\n[gateway]\nlisten_port = 0\n").write(toFile: configPath, atomically: true, encoding: .utf8)
        let line = valid.split(separator: "\n", omittingEmptySubsequences: false).count + 2
        do {
            try popctl("tenant", "list")
            Issue.record("expected a config error")
        } catch let error as ConfigError {
            #expect(error.key == "gateway.listen_port")
            #expect(error.line == line)
        }
    }
}
