import ArgumentParser
import Foundation
import Registry

struct TenantCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "tenant", abstract: "Manage tenants.", subcommands: [Add.self, List.self]
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

        func run() throws {
            let tenants = try Context(options).store.tenants()
            if json {
                print(try JSONOutput.render(tenants))
            } else {
                print(TextTable(header: ["NAME", "CREATED"], rows: tenants.map { [$0.name, JSONOutput.timestamp($0.createdAt)] }).render(), terminator: "")
            }
        }
    }
}
