import Addressing
import Foundation
import GRDB
@testable import Registry
import Sodium
import Testing

@Suite struct SchemaMigrationTests {
    @Test func aVersionOneRegistryKeepsItsPeersIdsAndRevisionTriggers() throws {
        let path = NSTemporaryDirectory() + "popgate-migration-\(UUID().uuidString).sqlite"
        let key = Curve25519PrivateKey().publicKey
        do {
            let queue = try DatabaseQueue(path: path)
            try SQLiteSchema.migrator.migrate(queue, upTo: "v1")
            try queue.write { db in
                try db.execute(sql: "INSERT INTO tenants (name, created_at) VALUES ('acme', 0)")
                try db.execute(
                    sql: """
                        INSERT INTO peers (tenant_id, name, public_key, address, state, created_at)
                        VALUES (1, 'old', ?, '10.77.0.2', 'revoked', 0), (1, 'kept', ?, '10.77.0.3', 'active', 0)
                        """,
                    arguments: [Curve25519PrivateKey().publicKey.base64, key.base64]
                )
                // The highest id was revoked and must never be handed out again.
                try db.execute(sql: "DELETE FROM peers WHERE id = 1")
                try db.execute(sql: "UPDATE sqlite_sequence SET seq = 7 WHERE name = 'peers'")
            }
        }

        let store = try RegistryStore(path: path)
        let peers = try store.peers(includingInactive: true)
        #expect(peers.map(\.name) == ["kept"])
        #expect(peers.first?.publicKey == key)
        #expect(peers.first?.expiresAt == nil && peers.first?.rotation == nil)
        let revision = try store.revision()
        let added = try store.addPeer(
            tenant: "acme", name: "new", publicKey: Curve25519PrivateKey().publicKey, presharedKey: nil,
            pool: IPPrefix("10.77.0.0/29")!, reserved: [IPAddress("10.77.0.1")!]
        )
        #expect(added.id == 8)
        #expect(added.address == IPAddress("10.77.0.2"))
        #expect(try store.revision() == revision + 1)
    }

    @Test func aVersionThreeRegistryKeepsItsTenantsInUse() throws {
        let path = NSTemporaryDirectory() + "popgate-migration-\(UUID().uuidString).sqlite"
        do {
            let queue = try DatabaseQueue(path: path)
            try SQLiteSchema.migrator.migrate(queue, upTo: "v3")
            try queue.write { db in
                try db.execute(sql: "INSERT INTO tenants (name, created_at) VALUES ('acme', 0)")
            }
        }

        let store = try RegistryStore(path: path)
        let tenants = try store.tenants(includingRemoved: true)
        #expect(tenants.map(\.name) == ["acme"])
        #expect(tenants.first?.removedAt == nil)
        let revision = try store.revision()
        try store.removeTenant("acme", force: false)
        #expect(try store.revision() > revision)
        #expect(try store.tenants().isEmpty)
    }
}
