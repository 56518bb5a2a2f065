import ArgumentParser

/// `popctl`: the operator's command line for tenants, peers and API keys.
public struct Popctl: ParsableCommand {
    public static let configuration = CommandConfiguration(
        commandName: "popctl",
        abstract: "Operate a popgate PoP: tenants, WireGuard peers and API keys.",
        discussion: "Exit status: 0 success, 1 the operation was refused or failed, 64 usage error.",
        subcommands: [TenantCommand.self, PeerCommand.self, KeyCommand.self]
    )

    public init() {}
}

/// Options every subcommand shares.
struct GlobalOptions: ParsableArguments {
    @Option(name: .long, help: "popgate.toml to use (default: $POPGATE_CONFIG, else /etc/popgate/popgate.toml).")
    var config: String?
}
