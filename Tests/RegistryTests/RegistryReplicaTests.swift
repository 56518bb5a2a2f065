import Foundation
import Registry
import RegistryLocations
import Sodium
import Testing

/// Fail static: a daemon's replica serves its last snapshot, or its local copy after a restart,
/// while the registry database cannot be read.
@Suite struct RegistryReplicaTests {
    let copyPath = NSTemporaryDirectory() + "popgate-copy-\(UUID().uuidString).json"
    /// Nothing listens on port 1 of loopback: every read is refused at once.
    let unreachable = RegistryLocation.postgres(try! PostgresLocation(url: "postgres://popgate@127.0.0.1:1/popgate"))

    @Test(arguments: RegistryEngine.all) func theLocalCopyHoldsWhatTheDaemonEnforces(engine: RegistryEngine) throws {
        let registry = try TemporaryRegistry(engine)
        try registry.addPeer("alice", expiresIn: 600)
        let bob = try registry.addPeer("bob")
        _ = try registry.store.beginRotation(
            "bob", publicKey: TemporaryRegistry.newKey(), presharedKey: WireGuardPresharedKey(), grace: 60,
            now: registry.at(1)
        )
        _ = try registry.store.createAPIKey(tenant: "acme", defaultTier: .fast)
        var replica = RegistryReplica(store: registry.store, localCopy: RegistryLocalCopy(path: copyPath))
        let refresh = try replica.refresh(at: registry.at(2))
        #expect(refresh.changed && refresh.copyError == nil && replica.health == .synced)

        let saved = try #require(try RegistryLocalCopy(path: copyPath).load())
        let live = try #require(replica.snapshot)
        #expect(saved.revision == live.revision)
        #expect(saved.peersByAddress == live.peersByAddress)
        #expect(saved.peersByAddress[bob.address]?.presharedKey == bob.presharedKey)
        #expect(saved.peersByAddress[bob.address]?.rotation != nil)
        #expect(saved.apiKeysByID == live.apiKeysByID)
        let attributes = try FileManager.default.attributesOfItem(atPath: copyPath)
        #expect((attributes[.posixPermissions] as? Int ?? 0) & 0o077 == 0)
    }

    @Test func aRestartWhileTheDatabaseIsDownServesTheLocalCopyAndAppliesExpiry() throws {
        let registry = try TemporaryRegistry(.sqlite)
        try registry.addPeer("alice", expiresIn: 600)
        try registry.addPeer("bob")
        var first = RegistryReplica(store: registry.store, localCopy: RegistryLocalCopy(path: copyPath))
        _ = try first.refresh(at: registry.at(1))

        var restarted = RegistryReplica(
            store: try RegistryStore(location: unreachable), localCopy: RegistryLocalCopy(path: copyPath)
        )
        let refresh = try restarted.refresh(at: registry.at(2))
        #expect(refresh.changed && restarted.loadedFromLocalCopy)
        #expect(refresh.previousHealth == .synced)
        guard case .degraded(_, let reason) = restarted.health else {
            Issue.record("expected degraded, got \(restarted.health)")
            return
        }
        #expect(reason.contains("127.0.0.1 port 1"))
        #expect(restarted.snapshot?.activePeers.map(\.name) == ["alice", "bob"])

        // The clock still applies: alice expires while the database is away; the health is reported once.
        let later = try restarted.refresh(at: registry.at(601))
        #expect(later.changed && later.previousHealth == nil)
        #expect(restarted.snapshot?.activePeers.map(\.name) == ["bob"])
    }

    @Test func withNeitherDatabaseNorLocalCopyThereIsNothingToEnforce() throws {
        var replica = RegistryReplica(
            store: try RegistryStore(location: unreachable), localCopy: RegistryLocalCopy(path: copyPath)
        )
        #expect {
            try replica.refresh()
        } throws: { error in
            let message = (error as? RegistryError)?.message ?? ""
            return message.contains("127.0.0.1 port 1") && message.contains("no local copy")
        }
        #expect(replica.snapshot == nil)
    }
}
