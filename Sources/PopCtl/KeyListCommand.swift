import ArgumentParser
import Foundation
import Registry

extension KeyCommand {
    struct List: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "List API keys, active and revoked, without their secrets.",
            discussion: "A key's secret is shown only once, by `popctl key create`; it cannot be listed."
        )

        @OptionGroup var options: GlobalOptions
        @Option(help: "Only this tenant's keys.") var tenant: String?
        @Flag(help: "Print JSON.") var json = false

        func run() throws {
            print(try output(), terminator: "")
        }

        /// What `run` prints.
        func output() throws -> String {
            try Self.render(try Context(options).store.apiKeys(tenant: tenant), json: json)
        }

        /// The listing as printed: a table, or JSON with a final newline.
        static func render(_ keys: [APIKey], json: Bool) throws -> String {
            if json { return try JSONOutput.render(keys) + "\n" }
            let rows = keys.map { key in
                [
                    key.keyID, key.tenantName, key.defaultTier.rawValue, key.state.rawValue,
                    key.limits.requestsPerMinute.map(String.init) ?? "tier",
                    key.limits.tokensPerMinute.map(String.init) ?? "tier",
                    JSONOutput.timestamp(key.createdAt), key.revokedAt.map(JSONOutput.timestamp) ?? "-",
                ]
            }
            let header = ["KEY ID", "TENANT", "TIER", "STATE", "REQUESTS/MIN", "TOKENS/MIN", "CREATED", "REVOKED"]
            return TextTable(header: header, rows: rows).render()
        }
    }
}
