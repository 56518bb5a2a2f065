import Addressing
import Foundation
@testable import Registry
import Sodium
import Testing

@Suite struct RegistryStoreTests {
    let pool = IPPrefix("10.77.0.0/29")!
    let popAddress = IPAddress("10.77.0.1")!

    func newKey() -> Curve25519PublicKey { Curve25519PrivateKey().publicKey }

    func addPeer(
        _ store: RegistryStore, _ name: String, tenant: String = "acme", key: Curve25519PublicKey? = nil
    ) throws -> Peer {
        try store.addPeer(
            tenant: tenant, name: name, publicKey: key ?? newKey(), presharedKey: WireGuardPresharedKey(), pool: pool,
            reserved: [popAddress]
        )
    }

    @Test(arguments: RegistryEngine.all) func tenantsAreUniqueAndValidated(engine: RegistryEngine) throws {
        let registry = try TemporaryRegistry(engine, tenant: nil)
        let store = registry.store
        try store.addTenant(name: "acme")
        #expect(throws: RegistryError(.duplicate, "tenant \"acme\" already exists; `popctl tenant list` shows all tenants")) {
            try store.addTenant(name: "acme")
        }
        #expect(throws: RegistryError.self) { try store.addTenant(name: "Bad Name") }
        #expect(try store.tenants().map(\.name) == ["acme"])
    }

    @Test(arguments: RegistryEngine.all)
    func peersGetTheLowestFreeAddressSkippingThePoP(engine: RegistryEngine) throws {
        let registry = try TemporaryRegistry(engine, tenant: nil)
        let store = registry.store
        try store.addTenant(name: "acme")
        let first = try addPeer(store, "a")
        let second = try addPeer(store, "b")
        #expect(first.address == IPAddress("10.77.0.2"))
        #expect(second.address == IPAddress("10.77.0.3"))
        #expect(first.tenantName == "acme")
    }

    @Test(arguments: RegistryEngine.all) func anExhaustedPoolIsRefusedAndChangesNothing(engine: RegistryEngine) throws {
        let registry = try TemporaryRegistry(engine, tenant: nil)
        let store = registry.store
        try store.addTenant(name: "acme")
        for index in 0..<5 { _ = try addPeer(store, "p\(index)") }  // .2 ... .6 of a /29
        let before = try store.revision()
        do {
            _ = try addPeer(store, "one-too-many")
            Issue.record("expected pool exhaustion")
        } catch let error as RegistryError {
            #expect(error.code == .poolExhausted)
            #expect(error.message.contains("wireguard.pool"))
        }
        #expect(try store.revision() == before)
        #expect(try store.peers().count == 5)
    }

    @Test(arguments: RegistryEngine.all)
    func unknownTenantsDuplicateKeysAndNamesAreRefused(engine: RegistryEngine) throws {
        let registry = try TemporaryRegistry(engine, tenant: nil)
        let store = registry.store
        try store.addTenant(name: "acme")
        #expect { try addPeer(store, "x", tenant: "nope") } throws: { ($0 as? RegistryError)?.code == .notFound }
        let key = newKey()
        _ = try addPeer(store, "laptop", key: key)
        #expect { try addPeer(store, "other", key: key) } throws: { ($0 as? RegistryError)?.code == .duplicate }
        #expect { try addPeer(store, "laptop") } throws: { ($0 as? RegistryError)?.code == .duplicate }
        #expect(try store.peers().count == 1)
    }

    @Test(arguments: RegistryEngine.all)
    func revocationRemovesThePeerFromSnapshotsAndFreesItsAddress(engine: RegistryEngine) throws {
        let registry = try TemporaryRegistry(engine, tenant: nil)
        let store = registry.store
        try store.addTenant(name: "acme")
        let peer = try addPeer(store, "laptop")
        let before = try store.snapshot()
        #expect(before.peersByAddress[peer.address]?.name == "laptop")
        try store.revokePeer("laptop")
        let after = try store.snapshot()
        #expect(after.revision > before.revision)
        #expect(after.peersByAddress[peer.address] == nil)
        #expect(try store.peers(includingInactive: true).first?.state == .revoked)
        #expect(try addPeer(store, "replacement").address == peer.address)
        #expect { try store.revokePeer("laptop") } throws: { ($0 as? RegistryError)?.code == .notFound }
    }

    @Test(arguments: RegistryEngine.all)
    func apiKeysAreStoredAsHashesAndMatchOnlyTheirToken(engine: RegistryEngine) throws {
        let registry = try TemporaryRegistry(engine, tenant: nil)
        let store = registry.store
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
        // The database never contains the token.
        let rows = try store.read { db in try db.rows("SELECT * FROM api_keys") }
        #expect(!"\(rows)".contains(String(revealed.split(separator: "_")[2])))
        if let path = registry.sqlitePath {
            #expect(try Data(contentsOf: URL(fileURLWithPath: path)).range(of: Data(revealed.utf8)) == nil)
        }
    }

    @Test(arguments: RegistryEngine.all) func anIPv6PoolOfAnyLengthIsAllocatedInOrder(engine: RegistryEngine) throws {
        let store = try TemporaryRegistry(engine).store
        let small = IPPrefix("fd00:77::/126")!  // ::1 to ::3 (::0 is the subnet-router anycast address)
        func add(_ name: String, pool: IPPrefix, address: IPAddress? = nil) throws -> Peer {
            try store.addPeer(
                tenant: "acme", name: name, publicKey: newKey(), presharedKey: nil, pool: pool,
                reserved: [IPAddress("fd00:77::1")!], address: address
            )
        }
        #expect(try add("a", pool: small).address == IPAddress("fd00:77::2"))
        #expect(try add("b", pool: small).address == IPAddress("fd00:77::3"))
        #expect { try add("c", pool: small) } throws: { ($0 as? RegistryError)?.code == .poolExhausted }
        let wide = IPPrefix("fd00:77::/64")!
        #expect(try add("d", pool: wide).address == IPAddress("fd00:77::4"))
        #expect(try add("e", pool: wide, address: IPAddress("fd00:77::ffff:1")).address == IPAddress("fd00:77::ffff:1"))
        #expect { try add("f", pool: wide, address: IPAddress("fd00:78::1")) } throws: {
            ($0 as? RegistryError)?.message.contains("not a client address of the pool fd00:77::/64") == true
        }
    }

    @Test func theSQLiteFileIsPrivateToItsOwner() throws {
        let registry = try TemporaryRegistry(.sqlite)
        let attributes = try FileManager.default.attributesOfItem(atPath: try #require(registry.sqlitePath))
        #expect((attributes[.posixPermissions] as? Int ?? 0) & 0o077 == 0)
    }
}
