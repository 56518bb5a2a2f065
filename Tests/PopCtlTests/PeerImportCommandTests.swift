import Addressing
import ArgumentParser
import Foundation
@testable import PopCtl
import Registry
import Sodium
import Testing
import WireGuard

/// A throwaway PoP for `peer import`: config, key and registry with tenant "acme".
struct ImportPoP {
    let pop: ScratchPoP
    var directory: String { pop.directory }
    var configPath: String { pop.configPath }
    var outputDir: String { directory + "/configs" }

    init(address: String = "10.77.0.1/24", pool: String? = nil) throws {
        pop = try ScratchPoP("import", address: address, wireguard: pool.map { "pool = \"\($0)\"" } ?? "")
        try popctl("tenant", "add", "acme")
    }

    func popctl(_ arguments: String...) throws { try pop.popctl(arguments) }

    /// Runs `peer import` as popctl parses it and returns its report (no progress bar).
    func importing(_ arguments: String...) throws -> ImportReport {
        let command = try Popctl.parseAsRoot(["peer", "import"] + arguments + ["--config", configPath])
        return try #require(command as? PeerCommand.Import).perform(progress: .silent)
    }

    /// Writes `text` to a file named `name` in the PoP's directory and returns its path.
    func file(_ name: String, _ text: String) throws -> String {
        let path = directory + "/" + name
        try text.write(toFile: path, atomically: true, encoding: .utf8)
        return path
    }

    var store: RegistryStore { get throws { try pop.store } }
}

@Suite struct PeerImportCommandTests {
    static func key() -> String { Curve25519PrivateKey().publicKey.base64 }

    @Test func csvRowsAreRegisteredAndEachGeneratedConfigWorks() throws {
        let pop = try ImportPoP()
        let ownKey = Self.key()
        let path = try pop.file("peers.csv", """
            tenant,name,public_key,expires
            acme,laptop,,
            acme,"phone",\(ownKey),30d
            acme,tablet,,2099-01-01

            """)
        let report = try pop.importing(path, "--output-dir", pop.outputDir)
        #expect(report.imported == 3 && report.refused == 0)

        let peers = try pop.store.peers()
        #expect(Set(peers.map(\.name)) == ["laptop", "phone", "tablet"])
        #expect(peers.first { $0.name == "phone" }?.publicKey.base64 == ownKey)
        #expect(peers.first { $0.name == "phone" }?.expiresAt != nil)
        #expect(Set(peers.map(\.address)).count == 3)

        for peer in peers {
            let configPath = pop.outputDir + "/acme-\(peer.name).conf"
            let attributes = try FileManager.default.attributesOfItem(atPath: configPath)
            #expect((attributes[.posixPermissions] as? NSNumber)?.intValue == 0o600)
            let config = try WGQuickConfig.parse(String(contentsOfFile: configPath, encoding: .utf8))
            #expect(config.interface.addresses.map(\.address) == [peer.address])
            #expect(config.peers.first?.presharedKeyBase64 == peer.presharedKey?.base64Secret())
            if peer.name == "phone" {
                #expect(config.interface.privateKey == nil)
            } else {
                #expect(config.interface.privateKey?.publicKey == peer.publicKey)
            }
        }
    }

    @Test func jsonRowsAreRegisteredAndReportedAsJSON() throws {
        let pop = try ImportPoP()
        let path = try pop.file("peers.json", """
            [{"tenant": "acme", "name": "a"}, {"tenant": "acme", "name": "b", "public_key": null, "expires": "12h"}]
            """)
        let report = try pop.importing(path, "--output-dir", pop.outputDir, "--json")
        #expect(report.imported == 2)
        let document = try #require(
            try JSONSerialization.jsonObject(with: Data(report.render(json: true).utf8)) as? [String: Any]
        )
        #expect(document["imported"] as? Int == 2)
        #expect(document["refused"] as? Int == 0)
        let rows = try #require(document["rows"] as? [[String: Any]])
        #expect(rows.map { $0["index"] as? Int } == [0, 1])
        #expect(rows.allSatisfy { $0["status"] as? String == "imported" && $0["reason"] is NSNull })
        #expect(rows.allSatisfy { ($0["config"] as? String)?.hasSuffix(".conf") == true })
        #expect(try !report.render(json: true).contains("PrivateKey"))
        #expect(try pop.store.peers().count == 2)
    }

    @Test func badRowsAreReportedByLineAndTheGoodOnesRegistered() throws {
        // A /29 pool: the PoP's .1 and five clients (.2 to .6); "taken" and "ok" rows use four.
        let pop = try ImportPoP(address: "10.77.0.1/29")
        try pop.popctl("peer", "add", "--tenant", "acme", "--name", "taken", "--output", pop.directory + "/t.conf")
        let reused = Self.key()
        let path = try pop.file("mixed.csv", """
            tenant,name,public_key,expires
            acme,ok1,,
            nosuch,ghost,,
            acme,taken,,
            acme,badkey,not-a-key,
            acme,late,,2020-01-01
            acme,never,,soon
            ,noten,,
            acme,,,
            acme,ok2,\(reused),
            acme,twin,\(reused),
            acme,ok2,,
            acme,Bad Name,,
            acme,ok3,,
            acme,ok4,,
            acme,full,,
            """)
        let report = try pop.importing(path, "--output-dir", pop.outputDir)
        let refused = Dictionary(uniqueKeysWithValues: report.rows.compactMap { result -> (String, String)? in
            guard case .refused(let row, let reason) = result else { return nil }
            return (row.location.description, reason)
        })
        #expect(report.imported == 4)
        #expect(Set(try pop.store.peers().map(\.name)) == ["taken", "ok1", "ok2", "ok3", "ok4"])
        #expect(refused["line 3"]?.contains("no tenant is named \"nosuch\"") == true)
        #expect(refused["line 4"]?.contains("a live peer named \"taken\" already exists") == true)
        #expect(refused["line 5"]?.hasPrefix("public_key:") == true)
        #expect(refused["line 6"]?.contains("is not in the future") == true)
        #expect(refused["line 7"]?.contains("\"soon\" is neither a duration") == true)
        #expect(refused["line 8"]?.hasPrefix("missing tenant;") == true)
        #expect(refused["line 9"]?.hasPrefix("missing name;") == true)
        #expect(refused["line 11"]?.contains("already belongs to live peer \"ok2\"") == true)
        #expect(refused["line 12"]?.contains("a live peer named \"ok2\" already exists") == true)
        #expect(refused["line 13"]?.contains("is not a valid peer name") == true)
        #expect(refused["line 16"]?.contains("pool 10.77.0.0/29 is exhausted") == true)
        #expect(refused.count == 11)

        // Only the imported rows have configs; the text report names each refused row by line.
        let configs = try FileManager.default.contentsOfDirectory(atPath: pop.outputDir).sorted()
        #expect(configs == ["acme-ok1.conf", "acme-ok2.conf", "acme-ok3.conf", "acme-ok4.conf"])
        let text = try report.render(json: false)
        #expect(text.hasPrefix("imported 4 peers, 11 rows refused"))
        #expect(text.contains("line 3 (tenant nosuch, name ghost): no tenant is named"))
        #expect(throws: ExitCode.failure) {
            try pop.popctl("peer", "import", try pop.file("again.csv", "tenant,name\nacme,ok1\n"),
                           "--output-dir", pop.directory + "/again")
        }
    }

    @Test(arguments: [
        ("broken.csv", "tenant,name\nacme,a\nacme,\"b\n", "line 3: a quoted field is never closed"),
        ("fields.csv", "tenant,name\nacme,a\nacme,b,c\n", "line 3: 3 fields, but the header has 2"),
        ("column.csv", "tenant,nmae\nacme,a\n", "line 1: unknown column \"nmae\""),
        ("header.csv", "name\na\n", "line 1: the header has no \"tenant\" column"),
        ("quote.csv", "tenant,name\nacme,a\"b\n", "line 2: a quote inside an unquoted field"),
        ("broken.json", "[{\"tenant\": \"acme\", \"name\": \"a\"},", "not valid JSON"),
        ("object.json", "{\"tenant\": \"acme\"}", "must be an array of objects"),
        ("number.json", "[{\"tenant\": \"acme\", \"name\": \"a\"}, {\"tenant\": \"acme\", \"name\": 7}]",
         "index 1: \"name\" must be a string"),
        ("peers.txt", "tenant,name\nacme,a\n", "cannot tell the format from the extension \"txt\""),
    ])
    func anUnparseableFileRegistersNothing(file: String, text: String, message: String) throws {
        let pop = try ImportPoP()
        let revision = try pop.store.revision()
        let path = try pop.file(file, text)
        #expect { try pop.importing(path, "--output-dir", pop.outputDir) } throws: { error in
            "\(error)".contains(message)
        }
        #expect(try pop.store.revision() == revision)
        #expect(try pop.store.peers().isEmpty)
        #expect(!FileManager.default.fileExists(atPath: pop.outputDir))
    }

    @Test func keylessRowsWithoutAnOutputDirectoryAreRefusedBeforeAnythingIsRegistered() throws {
        let pop = try ImportPoP()
        let revision = try pop.store.revision()
        let path = try pop.file("peers.csv", "tenant,name,public_key\nacme,a,\(Self.key())\nacme,b,\n")
        #expect { try pop.importing(path) } throws: { error in
            "\(error)".contains("1 of 2 rows have no public_key") && "\(error)".contains("--output-dir")
        }
        try FileManager.default.createDirectory(atPath: pop.outputDir, withIntermediateDirectories: true)
        try "old".write(toFile: pop.outputDir + "/old.conf", atomically: true, encoding: .utf8)
        #expect { try pop.importing(path, "--output-dir", pop.outputDir) } throws: { error in
            "\(error)".contains("is not empty")
        }
        #expect(try pop.store.revision() == revision)
    }

    @Test func aThousandRowsImportQuickly() throws {
        let pop = try ImportPoP(address: "10.64.0.1/16")
        let rows = (1...1_000).map { "acme,device-\($0)," }.joined(separator: "\n")
        let path = try pop.file("many.csv", "tenant,name,public_key\n" + rows + "\n")
        let clock = ContinuousClock()
        var report: ImportReport?
        let elapsed = try clock.measure { report = try pop.importing(path, "--output-dir", pop.outputDir) }
        #expect(report?.imported == 1_000)
        #expect(try pop.store.peers().count == 1_000)
        print("peer import: 1,000 rows with generated keys and configs in \(elapsed)")
    }
}
