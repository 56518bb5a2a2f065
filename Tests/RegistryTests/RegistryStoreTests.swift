import Addressing
import Foundation
import Registry
import Sodium
import Testing

@Suite struct RegistryStoreTests {
    let directory: String
    let store: RegistryStore
    let pool = IPPrefix("10.77.0.0/29")!
    let popAddress = IPAddress("10.77.0.1")!

    init() throws {
        directory = NSTemporaryDirectory() + "popgate-registry-\(UUID().uuidString)"
        store = try RegistryStore(path: directory + "/registry.sqlite")
    }

    func newKey() -> Curve25519PublicKey { Curve25519PrivateKey().publicKey }

    func addPeer(_ name: String, tenant: String = "acme", key: Curve25519PublicKey? = nil) throws -> Peer {
        try store.addPeer(
            tenant: tenant, name: name, publicKey: key ?? newKey(), presharedKey: WireGuardPresharedKey(), pool: pool,
            reserved: [popAddress]
        )
    }

    @Test func tenantsAreUniqueAndValidated() throws {
        try store.addTenant(name: "acme")
        #expect(throws: RegistryError(.duplicate, "tenant \"acme\" already exists; `popctl tenant list` shows all tenants")) {
            try store.addTenant(name: "acme")
        }
        #expect(throws: RegistryError.self) { try store.addTenant(name: "Bad Name") }
        #expect(try store.tenants().map(\.name) == ["acme"])
    }

    @Test func peersGetTheLowestFreeAddressSkippingThePoP() throws {
        try store.addTenant(name: "acme")
        let first = try addPeer("a")
        let second = try addPeer("b")
        #expect(first.address == IPAddress("10.77.0.2"))
        #expect(second.address == IPAddress("10.77.0.3"))
        #expect(first.tenantName == "acme")
    }

    @Test func anExhaustedPoolIsRefusedAndChangesNothing() throws {
        try store.addTenant(name: "acme")
        for index in 0..<5 { _ = try addPeer("p\(index)") }  // .2 ... .6 of a /29
        let before = try store.revision()
        do {
            _ = try addPeer("one-too-many")
            Issue.record("expected pool exhaustion")
        } catch let error as RegistryError {
            #expect(error.code == .poolExhausted)
            #expect(error.message.contains("wireguard.pool"))
        }
        #expect(try store.revision() == before)
        #expect(try store.peers().count == 5)
    }

    @Test func unknownTenantsDuplicateKeysAndNamesAreRefused() throws {
        try store.addTenant(name: "acme")
        #expect { try addPeer("x", tenant: "nope") } throws: { ($0 as? RegistryError)?.code == .notFound }
        let key = newKey()
        _ = try addPeer("laptop", key: key)
        #expect { try addPeer("other", key: key) } throws: { ($0 as? RegistryError)?.code == .duplicate }
        #expect { try addPeer("laptop") } throws: { ($0 as? RegistryError)?.code == .duplicate }
        #expect(try store.peers().count == 1)
    }

    @Test func revocationRemovesThePeerFromSnapshotsAndFreesItsAddress() throws {
        try store.addTenant(name: "acme")
        let peer = try addPeer("laptop")
        let before = try store.snapshot()
        #expect(before.peersByAddress[peer.address]?.name == "laptop")
        try store.revokePeer("laptop")
        let after = try store.snapshot()
        #expect(after.revision > before.revision)
        #expect(after.peersByAddress[peer.address] == nil)
        #expect(try store.peers(includingInactive: true).first?.state == .revoked)
        #expect(try addPeer("replacement").address == peer.address)
        #expect { try store.revokePeer("laptop") } throws: { ($0 as? RegistryError)?.code == .notFound }
    }

    @Test func apiKeysAreStoredAsHashesAndMatchOnlyTheirToken() throws {
        try store.addTenant(name: "acme")
        let (record, token) = try store.createAPIKey(tenant: "acme", defaultTier: .fast)
        let revealed = token.reveal()
        #expect(revealed.hasPrefix("popk_"))
        let snapshot = try store.snapshot()
        let stored = try #require(snapshot.apiKeysByID[record.keyID])
        #expect(stored.defaultTier == .fast)
        #expect(stored.secretHash == SHA256.hash(Array(revealed.split(separator: "_")[2].utf8)))
        #expect(APIKeyToken(presented: Substring(revealed))?.matches(stored) == true)
        var forged = Array(revealed)
        forged[forged.count - 1] = forged.last == "0" ? "1" : "0"
        #expect(APIKeyToken(presented: Substring(String(forged)))?.matches(stored) == false)
        // The database file never contains the token.
        let bytes = try Data(contentsOf: URL(fileURLWithPath: store.path))
        #expect(bytes.range(of: Data(revealed.utf8)) == nil)
    }

    @Test func theDatabaseIsPrivateToItsOwner() throws {
        try store.addTenant(name: "acme")
        let attributes = try FileManager.default.attributesOfItem(atPath: store.path)
        #expect((attributes[.posixPermissions] as? Int ?? 0) & 0o077 == 0)
    }
}
