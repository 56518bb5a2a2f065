import ArgumentParser
import Foundation
@testable import PopCtl
import Registry
import Sodium
import Testing
import WireGuard

/// `key list`, `key revoke`, `tenant list` and `tenant remove`, in-process against a throwaway registry.
@Suite struct KeyAndTenantCommandTests {
    let pop: ScratchPoP
    var directory: String { pop.directory }
    var configPath: String { pop.configPath }

    init() throws {
        pop = try ScratchPoP("keys")
        try popctl("tenant", "add", "acme")
        try popctl("tenant", "add", "globex")
    }

    func popctl(_ arguments: String...) throws { try pop.popctl(arguments) }

    /// What a listing command prints, run as popctl parses it.
    func listing(_ arguments: String...) throws -> String {
        let command = try Popctl.parseAsRoot(arguments + ["--config", configPath])
        switch command {
        case let list as KeyCommand.List: return try list.output()
        case let list as TenantCommand.List: return try list.output()
        default: throw PopctlError("not a listing: \(arguments)")
        }
    }

    var store: RegistryStore { get throws { try pop.store } }

    func addPeer(_ name: String, tenant: String) throws {
        try popctl("peer", "add", "--tenant", tenant, "--name", name, "--output", directory + "/\(name).conf")
    }

    func decode<T: Decodable>(_ type: T.Type, _ text: String) throws -> T {
        let decoder = JSONDecoder()
        decoder.dateDecodingStrategy = .iso8601
        return try decoder.decode(type, from: Data(text.utf8))
    }

    @Test func keyListShowsEveryKeyWithoutItsSecret() throws {
        let (acme, acmeToken) = try store.createAPIKey(tenant: "acme", defaultTier: .fast)
        let (globex, globexToken) = try store.createAPIKey(tenant: "globex", defaultTier: .slow)
        try popctl("key", "revoke", globex.keyID)

        let table = try listing("key", "list")
        let lines = table.split(separator: "\n").map(String.init)
        #expect(lines.first?.hasPrefix("KEY ID") == true)
        #expect(lines.count == 3)
        #expect(lines[1].hasPrefix(acme.keyID) && lines[1].contains("acme") && lines[1].contains("fast"))
        #expect(lines[1].contains("active"))
        #expect(lines[2].hasPrefix(globex.keyID) && lines[2].contains("revoked"))

        let json = try listing("key", "list", "--json")
        let objects = try #require(try JSONSerialization.jsonObject(with: Data(json.utf8)) as? [[String: Any]])
        #expect(objects.map { Set($0.keys) } == Array(repeating: [
            "key_id", "tenant_id", "tenant", "default_tier", "created_at", "revoked_at", "state", "requests_per_minute",
            "tokens_per_minute",
        ], count: 2))
        #expect(objects.first?["revoked_at"] is NSNull)
        let keys = try decode([APIKey].self, json)
        #expect(keys.map(\.keyID) == [acme.keyID, globex.keyID])
        #expect(keys.map(\.state) == [.active, .revoked])
        #expect(keys.map(\.defaultTier) == [.fast, .slow])

        let acmeOnly = try decode([APIKey].self, try listing("key", "list", "--tenant", "acme", "--json"))
        #expect(acmeOnly.map(\.keyID) == [acme.keyID])
        #expect(try listing("key", "list", "--tenant", "globex").contains(globex.keyID))
        #expect(!(try listing("key", "list", "--tenant", "globex").contains(acme.keyID)))

        for token in [acmeToken, globexToken] {
            let hash = Hex.encode(token.secretHash)
            let secret = String(token.reveal().split(separator: "_").last!)
            for text in [table, json] {
                #expect(!text.contains(secret) && !text.contains(hash))
                #expect(!text.contains(Data(token.secretHash).base64EncodedString()))
            }
        }
        #expect(throws: RegistryError.self) { try listing("key", "list", "--tenant", "nobody") }
    }

    @Test func aKeyCreatedWithLimitsCarriesThemAndBadLimitsChangeNothing() throws {
        try popctl("key", "create", "--tenant", "acme", "--tier", "fast", "--requests-per-minute", "30",
                   "--tokens-per-minute", "9000")
        let key = try #require(try pop.store.apiKeys().first)
        #expect(key.limits == APIKeyLimits(requestsPerMinute: 30, tokensPerMinute: 9000))
        #expect(try pop.store.snapshot().apiKeysByID[key.keyID]?.limits == key.limits)
        let table = try listing("key", "list")
        #expect(table.contains("REQUESTS/MIN") && table.split(separator: "\n")[1].contains("30"))
        let json = try #require(
            try JSONSerialization.jsonObject(with: Data(try listing("key", "list", "--json").utf8)) as? [[String: Any]]
        )
        #expect(json.first?["requests_per_minute"] as? Int == 30 && json.first?["tokens_per_minute"] as? Int == 9000)
        let revision = try pop.store.revision()
        #expect { try popctl("key", "create", "--tenant", "acme", "--requests-per-minute", "0") } throws: { error in
            "\(error)".contains("--requests-per-minute 0 is not a positive number")
        }
        #expect(try pop.store.revision() == revision)
    }

    @Test func keyRevokeTakesTheKeyOutOfTheSnapshotOnce() throws {
        let (record, _) = try store.createAPIKey(tenant: "acme", defaultTier: .medium)
        try popctl("key", "revoke", record.keyID)
        #expect(try store.snapshot().apiKeysByID[record.keyID] == nil)

        let revision = try store.revision()
        #expect { try popctl("key", "revoke", record.keyID) } throws: { "\($0)".contains("already revoked") }
        #expect { try popctl("key", "revoke", "feedfacefeedface") } throws: { error in
            "\(error)".contains("\"feedfacefeedface\"") && "\(error)".contains("popctl key list")
        }
        #expect(throws: (any Error).self) { try popctl("key", "revoke") }
        #expect(try store.revision() == revision)
    }

    @Test func tenantRemoveIsRefusedWhileInUseAndForcedRevokesEverything() throws {
        try addPeer("laptop", tenant: "acme")
        try addPeer("desk", tenant: "globex")
        let (key, _) = try store.createAPIKey(tenant: "acme", defaultTier: .medium)
        let revision = try store.revision()

        #expect { try popctl("tenant", "remove", "acme") } throws: { error in
            "\(error)".contains("1 active peer and 1 active API key") && "\(error)".contains("--force")
        }
        #expect { try popctl("tenant", "remove", "nobody") } throws: {
            "\($0)".contains("no tenant is named \"nobody\"")
        }
        #expect(try store.revision() == revision)
        #expect(try store.snapshot().activePeers.count == 2)

        try popctl("tenant", "remove", "acme", "--force")
        let snapshot = try store.snapshot()
        #expect(snapshot.activePeers.map(\.name) == ["desk"])
        #expect(snapshot.apiKeysByID[key.keyID] == nil)
        #expect(try store.apiKeys(tenant: "acme").map(\.state) == [.revoked])

        let tenants = try decode([Tenant].self, try listing("tenant", "list", "--json"))
        #expect(tenants.map(\.name) == ["globex"])
        let all = try decode([Tenant].self, try listing("tenant", "list", "--all", "--json"))
        #expect(all.map(\.name) == ["acme", "globex"])
        #expect(all.first?.removedAt != nil && all.last?.removedAt == nil)
        let table = try listing("tenant", "list", "--all")
        #expect(table.hasPrefix("NAME") && table.contains("REMOVED"))
    }
}
