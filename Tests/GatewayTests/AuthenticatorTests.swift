import Addressing
import Foundation
import Gateway
import Registry
import Sodium
import Testing

@Suite struct AuthenticatorTests {
    static let acmeToken = APIKeyToken.generate()
    static let globexToken = APIKeyToken.generate()

    static func peer(_ id: Int64, tenant: Int64, address: String) -> Peer {
        Peer(
            id: id, tenantID: tenant, tenantName: tenant == 1 ? "acme" : "globex", name: "p\(id)",
            publicKey: Curve25519PrivateKey().publicKey, address: IPAddress(address)!, presharedKey: nil, state: .active,
            createdAt: Date()
        )
    }

    static let snapshot = RegistrySnapshot(
        revision: 1,
        peers: [peer(1, tenant: 1, address: "10.77.0.2"), peer(2, tenant: 2, address: "10.77.0.3")],
        apiKeys: [
            APIKeyRecord(keyID: acmeToken.keyID, tenantID: 1, secretHash: acmeToken.secretHash, defaultTier: .fast),
            APIKeyRecord(keyID: globexToken.keyID, tenantID: 2, secretHash: globexToken.secretHash, defaultTier: .slow),
        ]
    )

    func authenticate(_ source: String, _ authorization: String?) -> AuthenticationResult {
        Authenticator.authenticate(source: IPAddress(source)!, authorization: authorization, snapshot: Self.snapshot)
    }

    @Test func aPeerWithItsTenantsKeyIsAuthenticated() {
        guard case .authenticated(let identity) = authenticate("10.77.0.2", "Bearer \(Self.acmeToken.reveal())") else {
            Issue.record("expected success")
            return
        }
        #expect(identity.peer.tenantName == "acme")
        #expect(identity.defaultTier == .fast)
        #expect(identity.keyID == Self.acmeToken.keyID)
    }

    @Test func anUnknownSourceIsNotAPeerWhateverItsKey() {
        #expect(authenticate("10.77.0.9", "Bearer \(Self.acmeToken.reveal())") == .unknownPeer)
        #expect(authenticate("198.51.100.66", nil) == .unknownPeer)
    }

    @Test func anotherTenantsKeyIsRefused() {
        guard case .invalidKey = authenticate("10.77.0.3", "Bearer \(Self.acmeToken.reveal())") else {
            Issue.record("a key of acme must not work from globex's peer")
            return
        }
    }

    @Test(arguments: [nil, "Basic abc", "Bearer", "Bearer popk_zz_zz", "Bearer sk-proj-123", "bearer popk_0000000000000000_" + String(repeating: "0", count: 64)])
    func missingOrMalformedKeysAreRefused(_ header: String?) {
        guard case .invalidKey(let message) = authenticate("10.77.0.2", header) else {
            Issue.record("expected a refusal for \(header ?? "nil")")
            return
        }
        #expect(!message.isEmpty)
    }
}
