import Addressing
import Testing

@testable import Firewall

#if canImport(Glibc)
import Glibc
#endif

/// The repository root (three levels above this file), for the boot file and captured vectors.
private let repository = RepositoryPath(#filePath).parent.parent.parent

/// A path with just the operations these tests need (no Foundation in the test target).
struct RepositoryPath {
    let path: String
    init(_ path: String) { self.path = path }
    var parent: RepositoryPath { RepositoryPath(String(path[..<(path.lastIndex(of: "/") ?? path.startIndex)])) }
    func appending(_ component: String) -> String { path + "/" + component }
}

/// The whole file as UTF-8 text.
func readText(_ path: String) throws -> String {
    guard let file = fopen(path, "r") else { throw FileReadError(path: path) }
    defer { fclose(file) }
    var bytes: [UInt8] = []
    var buffer = [UInt8](repeating: 0, count: 65536)
    while true {
        let count = fread(&buffer, 1, buffer.count, file)
        if count == 0 { break }
        bytes += buffer[0..<count]
    }
    return String(decoding: bytes, as: UTF8.self)
}

/// A file the test could not open.
struct FileReadError: Error { let path: String }

@Suite("Rendering the policy")
struct RenderingTests {
    /// Rules of the captured `nft --debug=netlink` listing, per chain, as expression lines.
    private func capturedRules() throws -> [String: [[String]]] {
        let text = try readText(repository.appending("Tests/FirewallTests/Vectors/nft-debug-default.txt"))
        var rules: [String: [[String]]] = [:]
        var chain = ""
        for line in text.split(separator: "\n") where !line.hasPrefix("#") {
            if line.hasPrefix("inet popgate ") {
                chain = String(line.split(separator: " ")[2])
                rules[chain, default: []].append([])
            } else {
                rules[chain]![rules[chain]!.count - 1].append(line.trimmingPrefix("  ").description)
            }
        }
        return rules
    }

    @Test("expressions match what nft generates for the boot file, rule for rule")
    func expressionsMatchNft() throws {
        let captured = try capturedRules()
        let table = FirewallPolicy.documentedDefault.table
        for chain in table.chains {
            let ours = chain.rules.map { $0.expressions.map(\.description) }
            #expect(ours == (captured[chain.name] ?? []), "chain \(chain.name)")
        }
        #expect(captured["input"]?.count == 9)
        #expect(captured["output"]?.count == 6)
    }

    @Test("nftables/popgate.nft is FirewallPolicy.documentedDefault.nftScript")
    func bootFileIsCurrent() throws {
        let file = try readText(repository.appending("nftables/popgate.nft"))
        #expect(file == FirewallPolicy.documentedDefault.nftScript)
    }

    @Test("built libnftnl rules print as the pure expressions do")
    func libnftnlAgrees() {
        let table = FirewallPolicy.documentedDefault.table
        for chain in table.chains {
            for rule in chain.rules {
                let built = NftnlRule(table: table.name, chain: chain.name, rule: rule, setIDs: ["edge_peers_v4": 1])
                #expect(built.expressionTexts == rule.expressions.map(\.description), "\(rule.nftText)")
            }
        }
    }

    @Test("prefixes that end inside a byte load the whole address and mask it, as nft does")
    func unalignedPrefix() {
        let expressions = RuleSpec.prefixMatch(IPPrefix("10.96.0.0/12")!, source: true).map(\.description)
        #expect(expressions == [
            "[ meta load nfproto => reg 1 ]",
            "[ cmp eq reg 1 0x00000002 ]",
            "[ payload load 4b @ network header + 12 => reg 1 ]",
            "[ bitwise reg 1 = ( reg 1 & 0x0000f0ff ) ^ 0x00000000 ]",
            "[ cmp eq reg 1 0x0000600a ]",
        ])
        let v6 = RuleSpec.prefixMatch(IPPrefix("2001:db8::/32")!, source: false).map(\.description)
        #expect(v6[2] == "[ payload load 4b @ network header + 24 => reg 1 ]")
        #expect(v6[3] == "[ cmp eq reg 1 0xb80d0120 ]")
    }

    @Test("the script names every section of the policy")
    func scriptText() {
        var policy = FirewallPolicy.documentedDefault
        policy.outputAllowances = [.init(interface: "mgmt0", destination: IPPrefix("192.0.2.53/32")!, transport: .udp, port: 53)]
        let script = policy.nftScript
        #expect(script.contains("oifname \"mgmt0\" ip daddr 192.0.2.53 udp dport 53 accept"))
        #expect(script.contains("iifname \"wg-edge\" ip6 saddr @edge_peers_v6 tcp dport 8080 accept"))
        #expect(script.contains("chain forward {\n        type filter hook forward priority filter; policy drop;\n    }"))
    }
}
