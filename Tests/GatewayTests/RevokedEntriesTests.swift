import Addressing
import Foundation
@testable import Gateway
import Registry
import Sodium
import Testing

@Suite struct RevokedEntriesTests {
    static let now = Date(timeIntervalSince1970: 1_800_000_000)

    static func peer(_ id: Int64, tenant: Int64 = 1, address: String, expiresAt: Date? = nil) -> Peer {
        Peer(
            id: id, tenantID: tenant, tenantName: "t\(tenant)", name: "p\(id)",
            publicKey: Curve25519PrivateKey().publicKey, address: IPAddress(address)!, presharedKey: nil,
            state: .active, createdAt: now, expiresAt: expiresAt
        )
    }

    static func key(_ id: String, tenant: Int64 = 1, secret: UInt8 = 1) -> APIKeyRecord {
        APIKeyRecord(keyID: id, tenantID: tenant, secretHash: [UInt8](repeating: secret, count: 32), defaultTier: .fast)
    }

    static let laptop = peer(1, address: "10.77.0.2")
    static let phone = peer(2, address: "10.77.0.3")
    static let before = RegistrySnapshot(
        revision: 1, peers: [laptop, phone], apiKeys: [key("aaaaaaaaaaaaaaaa"), key("bbbbbbbbbbbbbbbb")]
    )

    func changes(to peers: [Peer], keys: [APIKeyRecord], from old: RegistrySnapshot = before) -> RevokedEntries {
        let new = RegistrySnapshot(revision: old.revision + 1, peers: peers, apiKeys: keys)
        return RevokedEntries(from: old, to: new, at: Self.now)
    }

    @Test func addingPeersAndKeysTakesNothingAway() {
        let added = changes(
            to: [Self.laptop, Self.phone, Self.peer(3, address: "10.77.0.4")],
            keys: [Self.key("aaaaaaaaaaaaaaaa"), Self.key("bbbbbbbbbbbbbbbb"), Self.key("cccccccccccccccc")]
        )
        #expect(added.isEmpty)
    }

    @Test func aPeerThatLeftIsRevokedAndOnlyThatOne() {
        let revoked = changes(to: [Self.phone], keys: Array(Self.before.apiKeysByID.values))
        #expect(revoked.peers == [1: .revoked])
        #expect(revoked.keys.isEmpty)
    }

    @Test func aPeerThatLeftAfterItsExpiryIsExpired() {
        let expiring = Self.peer(3, address: "10.77.0.4", expiresAt: Self.now.addingTimeInterval(-1))
        let old = RegistrySnapshot(revision: 1, peers: [Self.laptop, expiring], apiKeys: [])
        #expect(changes(to: [Self.laptop], keys: [], from: old).peers == [3: .expired])
    }

    @Test func anotherPeerAtTheSameAddressIsStillTheEndOfTheFirst() {
        // Revoked peers free their tunnel address: a connection of peer 1 must not pass for peer 9's.
        let successor = Self.peer(9, address: "10.77.0.2")
        let keys = Array(Self.before.apiKeysByID.values)
        #expect(changes(to: [successor, Self.phone], keys: keys).peers == [1: .revoked])
    }

    @Test func aRevokedKeyIsNamedAndAKeyGivenAnotherTenantOrSecretCountsAsRevoked() {
        let peers = [Self.laptop, Self.phone]
        #expect(changes(to: peers, keys: [Self.key("bbbbbbbbbbbbbbbb")]).keys == ["aaaaaaaaaaaaaaaa"])
        let moved = changes(
            to: peers, keys: [Self.key("aaaaaaaaaaaaaaaa", tenant: 2), Self.key("bbbbbbbbbbbbbbbb", secret: 2)]
        )
        #expect(moved.keys == ["aaaaaaaaaaaaaaaa", "bbbbbbbbbbbbbbbb"])
    }

    @Test func theSameSnapshotAgainTakesNothingAway() {
        #expect(RevokedEntries(from: Self.before, to: Self.before, at: Self.now).isEmpty)
    }
}
