import Addressing
import Foundation
import Registry
import Sodium
import Testing

/// `addPeers`: one transaction per batch, each row whole or not at all.
@Suite struct RegistryBulkAddTests {
    func request(_ name: String, tenant: String = "acme", key: Curve25519PublicKey = TemporaryRegistry.newKey())
        -> NewPeer
    {
        NewPeer(tenant: tenant, name: name, publicKey: key, presharedKey: nil, expiresAt: nil)
    }

    struct Undeliverable: Error {}

    @Test(arguments: RegistryEngine.all) func aRefusedRowLeavesTheOthersAndItsAddressFree(engine: RegistryEngine) throws {
        let registry = try TemporaryRegistry(engine)
        let shared = TemporaryRegistry.newKey()
        let revision = try registry.store.revision()
        let results = try registry.store.addPeers(
            [
                request("a"), request("b", tenant: "nosuch"), request("c", key: shared), request("d", key: shared),
                request("undelivered"), request("e"),
            ],
            pool: registry.pool, reserved: [registry.popAddress], now: registry.start,
            deliver: { _, peer in if peer.name == "undelivered" { throw Undeliverable() } }
        )
        let outcomes = results.map { result -> String in
            switch result {
            case .success(let peer): peer.address.description
            case .failure(let error): error.code.rawValue
            }
        }
        // The undelivered row was rolled back to its savepoint: "e" gets the address it had.
        #expect(outcomes == ["10.77.0.2", "notFound", "10.77.0.3", "duplicate", "invalidArgument", "10.77.0.4"])
        #expect(Set(try registry.store.peers(at: registry.start).map(\.name)) == ["a", "c", "e"])
        #expect(try registry.store.revision() > revision)
    }

    @Test(arguments: RegistryEngine.all) func thePoolRunsOutPerRow(engine: RegistryEngine) throws {
        let registry = try TemporaryRegistry(engine)
        try registry.addPeer("first")
        let results = try registry.store.addPeers(
            (1...6).map { request("p\($0)") }, pool: registry.pool, reserved: [registry.popAddress],
            now: registry.start
        )
        #expect(results.filter { if case .success = $0 { true } else { false } }.count == 4)
        #expect(results.suffix(2).allSatisfy { result in
            if case .failure(let error) = result { error.code == .poolExhausted } else { false }
        })
    }
}
