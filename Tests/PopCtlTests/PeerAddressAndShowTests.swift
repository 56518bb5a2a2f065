import Addressing
import ArgumentParser
import Foundation
@testable import PopCtl
import Registry
import Sodium
import Testing
import WireGuard

/// `peer add --address` and `--psk`, and `peer show`, in-process against a throwaway registry.
@Suite struct PeerAddressAndShowTests {
    let pop: ScratchPoP
    var directory: String { pop.directory }

    init() throws {
        pop = try ScratchPoP("show") { directory in "[netd]\nrun_directory = \"\(directory)/run\"" }
        try popctl("tenant", "add", "acme")
    }

    func popctl(_ arguments: String...) throws { try pop.popctl(arguments) }

    func config(_ name: String) throws -> WGQuickConfig {
        try WGQuickConfig.parse(String(contentsOfFile: directory + "/" + name, encoding: .utf8))
    }

    @Test func aChosenAddressIsGivenAndATakenOneRefusedNamingItsHolder() throws {
        try popctl("peer", "add", "--tenant", "acme", "--name", "printer", "--address", "10.77.0.42", "--output",
                   directory + "/p.conf")
        #expect(try config("p.conf").interface.addresses.map(\.address) == [IPAddress("10.77.0.42")!])
        let revision = try pop.store.revision()
        #expect {
            try popctl("peer", "add", "--tenant", "acme", "--name", "other", "--address", "10.77.0.42")
        } throws: { error in
            let message = "\(error)"
            return message.contains("\"printer\"") && message.contains("must not overlap")
        }
        #expect { try popctl("peer", "add", "--tenant", "acme", "--address", "10.78.0.5") } throws: { error in
            "\(error)".contains("not a client address of the pool 10.77.0.0/24")
        }
        #expect { try popctl("peer", "add", "--tenant", "acme", "--address", "10.77.0.1") } throws: { error in
            "\(error)".contains("the PoP's own tunnel address")
        }
        #expect { try popctl("peer", "add", "--tenant", "acme", "--address", "10.77.0.x") } throws: { error in
            "\(error)".contains("--address") && "\(error)".contains("is not an IP address")
        }
        #expect(try pop.store.revision() == revision)
    }

    @Test func aSuppliedPresharedKeyIsRecordedAndWrittenIntoTheConfig() throws {
        let psk = WireGuardPresharedKey()
        try psk.base64Secret().write(toFile: directory + "/psk", atomically: true, encoding: .utf8)
        try popctl("peer", "add", "--tenant", "acme", "--name", "phone", "--psk", directory + "/psk", "--output",
                   directory + "/phone.conf")
        #expect(try pop.store.peers().first?.presharedKey == psk)
        #expect(try config("phone.conf").peers.first?.presharedKeyBase64 == psk.base64Secret())
        try "not a key".write(toFile: directory + "/bad", atomically: true, encoding: .utf8)
        #expect { try popctl("peer", "add", "--tenant", "acme", "--psk", directory + "/bad") } throws: { error in
            "\(error)".contains("wg genpsk")
        }
        #expect(try pop.store.peers().count == 1)
    }

    @Test func showDescribesLiveAndRevokedPeersAndRefusesUnknownOnes() throws {
        try popctl("peer", "add", "--tenant", "acme", "--name", "laptop", "--output", directory + "/l.conf")
        let store = try pop.store
        let peer = try store.peer("laptop")
        let live = try PeerCommand.Show.render(PeerListing(peer: peer, device: nil), json: false, now: Date())
        #expect(live.contains("state              active"))
        #expect(live.contains("address            10.77.0.2"))
        #expect(live.contains("preshared key      yes (not shown)"))
        #expect(!live.contains(peer.presharedKey!.base64Secret()))
        try popctl("peer", "revoke", "laptop")
        let revoked = try store.peer("laptop")
        #expect(revoked.state == .revoked)
        let json = try PeerCommand.Show.render(PeerListing(peer: revoked, device: nil), json: true, now: Date())
        let object = try #require(try JSONSerialization.jsonObject(with: Data(json.utf8)) as? [String: Any])
        #expect(object["state"] as? String == "revoked" && object["name"] as? String == "laptop")
        #expect(object["last_handshake"] is NSNull)
        #expect { try popctl("peer", "show", "nobody") } throws: { error in
            "\(error)".contains("no peer is named \"nobody\"")
        }
    }
}
