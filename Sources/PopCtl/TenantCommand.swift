import ArgumentParser
import Foundation
import Registry

struct TenantCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "tenant", abstract: "Manage tenants.", subcommands: [Add.self, List.self, Remove.self]
    )

    struct Add: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Create a tenant.")

        @OptionGroup var options: GlobalOptions
        @Argument(help: "The tenant's name: lower-case letters, digits, '-', '_', '.'.") var name: String

        func run() throws {
            let tenant = try Context(options).store.addTenant(name: name)
            print("created tenant \(tenant.name)")
        }
    }

    struct List: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "List tenants.")

        @OptionGroup var options: GlobalOptions
        @Flag(help: "Print JSON.") var json = false
        @Flag(help: "Include removed tenants.") var all = false

        func run() throws {
            print(try output(), terminator: "")
        }

        /// What `run` prints.
        func output() throws -> String {
            try Self.render(try Context(options).store.tenants(includingRemoved: all), json: json)
        }

        /// The listing as printed: a table, or JSON with a final newline.
        static func render(_ tenants: [Tenant], json: Bool) throws -> String {
            if json { return try JSONOutput.render(tenants) + "\n" }
            let rows = tenants.map { tenant in
                [tenant.name, JSONOutput.timestamp(tenant.createdAt), tenant.removedAt.map(JSONOutput.timestamp) ?? "-"]
            }
            return TextTable(header: ["NAME", "CREATED", "REMOVED"], rows: rows).render()
        }
    }

    struct Remove: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Remove a tenant.",
            discussion: """
                Refused while the tenant has active peers or active API keys. With --force, they are all revoked \
                and the tenant removed in one registry change: popnetd drops the peers from WireGuard and the \
                gateway refuses them and the keys within a second. A removed tenant keeps its name (its revoked \
                peers and keys still refer to it): `tenant list --all` shows it, and the name cannot be reused.
                """
        )

        @OptionGroup var options: GlobalOptions
        @Argument(help: "The tenant's name.") var name: String
        @Flag(help: "Revoke the tenant's active peers and API keys too.") var force = false

        func run() throws {
            let removal = try Context(options).store.removeTenant(name, force: force)
            let revoked = [(removal.revokedPeers, "peer"), (removal.revokedKeys, "API key")]
                .filter { !$0.0.isEmpty }
                .map { names, noun in
                    "\(names.count) \(noun)\(names.count == 1 ? "" : "s") (\(names.joined(separator: ", ")))"
                }
            let detail = revoked.isEmpty ? "" : "; revoked \(revoked.joined(separator: " and "))"
            print("removed tenant \(removal.tenant.name)\(detail)")
        }
    }
}
