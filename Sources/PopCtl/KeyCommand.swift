import ArgumentParser
import Foundation
import Registry

struct KeyCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "key", abstract: "Manage API keys.", subcommands: [Create.self, List.self, Revoke.self]
    )

    struct Create: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Create an API key for a tenant.",
            discussion: """
                The key is printed once on standard output and only its hash is stored: keep it now. With \
                --requests-per-minute or --tokens-per-minute the key is held to the lower of those and its \
                tier's [limits] in popgate.toml.
                """
        )

        @OptionGroup var options: GlobalOptions
        @Option(help: "The tenant the key belongs to.") var tenant: String
        @Option(help: "Default tier: slow, medium, fast or ludicrous.") var tier = "medium"
        @Option(help: "At most this many requests a minute (default: the tier's limit).") var requestsPerMinute: Int?
        @Option(help: "At most this many tokens a minute (default: the tier's limit).") var tokensPerMinute: Int?

        func run() throws {
            let defaultTier = try Tier.parse(tier)
            let limits = APIKeyLimits(requestsPerMinute: requestsPerMinute, tokensPerMinute: tokensPerMinute)
            let (record, token) = try Context(options).store.createAPIKey(
                tenant: tenant, defaultTier: defaultTier, limits: limits
            )
            print(token.reveal())
            FileHandle.standardError.write(Data(
                ("created key \(record.keyID) for tenant \(tenant) (default tier \(record.defaultTier.rawValue)); "
                    + "it is shown only once\n").utf8
            ))
        }
    }

    struct Revoke: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Revoke an API key: the gateway refuses it within a second.",
            discussion: """
                Takes the key's id (the 16 hex digits after popk_, as `popctl key list` shows it), never the \
                whole key. Revoking a key that is already revoked changes nothing and exits with status 1, as \
                for an unknown id: the key you meant may be another one, still active.
                """
        )

        @OptionGroup var options: GlobalOptions
        @Argument(help: "The key's id.") var keyID: String

        func run() throws {
            let key = try Context(options).store.revokeAPIKey(keyID)
            print("revoked key \(key.keyID) of tenant \(key.tenantName)")
        }
    }
}
