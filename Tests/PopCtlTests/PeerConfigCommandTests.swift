import ArgumentParser
import Foundation
@testable import PopCtl
import Registry
import Sodium
import Testing
import WireGuard

/// `peer config`, in-process against a throwaway PoP: the config again from the registry, completed with the
/// device's own key file, and the refusals.
@Suite struct PeerConfigCommandTests {
    let pop: ScratchPoP
    let deviceKey = Curve25519PrivateKey()
    var directory: String { pop.directory }

    init() throws {
        pop = try ScratchPoP("peer-config")
        try pop.popctl(["tenant", "add", "acme"])
        // Registered with its public key only, as a phone that made its own key pair is.
        try pop.popctl([
            "peer", "add", "--tenant", "acme", "--name", "phone", "--public-key", deviceKey.publicKey.base64,
            "--output", directory + "/issued.conf",
        ])
        try SecretFile.create(directory + "/phone.key", contents: deviceKey.base64Secret() + "\n")
    }

    func popctl(_ arguments: String...) throws { try pop.popctl(arguments) }

    func text(_ name: String) throws -> String { try String(contentsOfFile: directory + "/" + name, encoding: .utf8) }

    @Test func withTheDevicesKeyFileTheConfigIsComplete() throws {
        try popctl("peer", "config", "phone", "--private-key-file", directory + "/phone.key", "--output",
                   directory + "/phone.conf")
        let config = try WGQuickConfig.parse(try text("phone.conf"))
        let peer = try #require(try pop.store.peers().first)
        #expect(config.interface.privateKey?.publicKey == deviceKey.publicKey)
        #expect(config.peers.first?.presharedKeyBase64 == peer.presharedKey?.base64Secret())
        #expect(config.peers.first?.presharedKeyBase64 != nil)
        // Exactly what `peer add` issued, with the private key filled in.
        let issued = try text("issued.conf")
        let completed = issued.split(separator: "\n", omittingEmptySubsequences: false).map { line in
            line.hasPrefix("# PrivateKey = ") ? "PrivateKey = \(deviceKey.base64Secret())" : String(line)
        }.joined(separator: "\n")
        #expect(try text("phone.conf") == completed)
        let mode = try FileManager.default.attributesOfItem(atPath: directory + "/phone.conf")[.posixPermissions]
        #expect(mode as? Int == 0o600)
    }

    @Test func withoutAKeyFileThePrivateKeyIsLeftToTheDevice() throws {
        try popctl("peer", "config", deviceKey.publicKey.base64, "--output", directory + "/again.conf")
        #expect(try text("again.conf") == text("issued.conf"))
        #expect(try WGQuickConfig.parse(try text("again.conf")).interface.privateKey == nil)
    }

    @Test func aKeyFileOfAnotherDeviceIsRefusedNamingTheRegisteredKey() throws {
        try SecretFile.create(directory + "/other.key", contents: Curve25519PrivateKey().base64Secret() + "\n")
        #expect {
            try popctl("peer", "config", "phone", "--private-key-file", directory + "/other.key", "--output",
                       directory + "/wrong.conf")
        } throws: { error in
            "\(error)".contains("registered with public key \(deviceKey.publicKey.base64)")
                && Popctl.exitCode(for: error) == .failure
        }
        #expect(!FileManager.default.fileExists(atPath: directory + "/wrong.conf"))

        try "not a key\n".write(toFile: directory + "/junk.key", atomically: true, encoding: .utf8)
        #expect { try popctl("peer", "config", "phone", "--private-key-file", directory + "/junk.key") } throws: {
            "\($0)".contains("does not hold a WireGuard private key")
        }
    }

    @Test func qrWithoutAKeyFileIsRefusedSayingWhatToDo() throws {
        #expect { try popctl("peer", "config", "phone", "--qr") } throws: { error in
            let message = Popctl.message(for: error)
            return message.contains("--private-key-file") && message.contains("peer add --qr")
                && Popctl.exitCode(for: error) == .validationFailure
        }
    }

    @Test func anUnknownOrRevokedPeerIsRefusedNamingIt() throws {
        #expect { try popctl("peer", "config", "nobody") } throws: { error in
            "\(error)".contains("\"nobody\"") && Popctl.exitCode(for: error) == .failure
        }
        try popctl("peer", "revoke", "phone")
        #expect { try popctl("peer", "config", "phone") } throws: {
            "\($0)".contains("phone of tenant acme is revoked")
        }
    }

    @Test func theNewKeyOfAPendingRotationGetsTheRotatedConfig() throws {
        let newKey = Curve25519PrivateKey()
        try SecretFile.create(directory + "/new.key", contents: newKey.base64Secret())
        try popctl("peer", "rotate", "phone", "--public-key", newKey.publicKey.base64, "--output",
                   directory + "/rotated.conf")
        try popctl("peer", "config", "phone", "--private-key-file", directory + "/new.key", "--output",
                   directory + "/new.conf")
        let rotation = try #require(try pop.store.peers().first?.rotation)
        let config = try WGQuickConfig.parse(try text("new.conf"))
        #expect(config.interface.privateKey?.publicKey == newKey.publicKey)
        #expect(config.peers.first?.presharedKeyBase64 == rotation.presharedKey?.base64Secret())
    }

    @Test func theTerminalQRIsHalfBlocksOnly() throws {
        let qr = try PeerCommand.Config.terminalQR(try text("issued.conf"), colors: false)
        #expect(qr.unicodeScalars.allSatisfy { " \n\u{2580}\u{2584}\u{2588}".unicodeScalars.contains($0) })
        // Low error correction when medium would not fit a standard 80-column terminal.
        #expect(qr.split(separator: "\n").allSatisfy { $0.count <= PeerCommand.Config.standardTerminalColumns })
        let coloured = try PeerCommand.Config.terminalQR(try text("issued.conf"), colors: true)
        #expect(coloured.hasPrefix("\u{1B}[97;40m"))
    }
}
