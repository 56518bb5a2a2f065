import ArgumentParser
import Foundation
import PopConfig

/// `popctl`: the operator's command line for tenants, peers and API keys.
public struct Popctl: ParsableCommand {
    public static let configuration = CommandConfiguration(
        commandName: "popctl",
        abstract: "Operate a popgate PoP: tenants, WireGuard peers, API keys, popnetd's status and the receipt log.",
        discussion: """
            Every subcommand reads popgate.toml from --config PATH, else from $POPGATE_CONFIG, else from \
            /etc/popgate/popgate.toml.
            Exit status: 0 success; 1 the operation was refused or failed (the message on standard error says \
            why and what to do); 2 usage error (an unknown subcommand or option, a missing or invalid argument).
            """,
        subcommands: [
            TenantCommand.self, PeerCommand.self, KeyCommand.self, StatusCommand.self, ReceiptsCommand.self, NodeCommand.self,
        ]
    )

    public init() {}
}

/// Options every subcommand shares.
struct GlobalOptions: ParsableArguments {
    @Option(name: .long, help: "popgate.toml to use (default: $POPGATE_CONFIG, else /etc/popgate/popgate.toml).")
    var config: String?

    /// The validated configuration these options point at.
    func loadConfiguration() throws(ConfigError) -> PopConfiguration {
        try PopConfiguration.load(path: PopConfiguration.resolvePath(explicit: config))
    }
}

/// An operation popctl refuses; the message says what was wrong and what to do.
package struct PopctlError: Error, CustomStringConvertible {
    package let description: String
    init(_ description: String) { self.description = description }
}

extension Popctl {
    /// Runs popctl with the process arguments and exits: 0 success, 1 refused or failed,
    /// 2 usage error (ArgumentParser's own 64 is mapped to 2, the convention of `wg` and `ip`).
    public static func runAndExit(_ arguments: [String]? = nil) -> Never {
        do {
            var command = try parseAsRoot(arguments)
            try command.run()
            Foundation.exit(0)
        } catch {
            let code = exitCode(for: error)
            if code == .success { Self.exit(withError: error) }
            // A bare ExitCode (e.g. `peer import` with refused rows) has said everything already.
            let message = fullMessage(for: error)
            if !message.isEmpty { FileHandle.standardError.write(Data((message + "\n").utf8)) }
            Foundation.exit(code == .validationFailure ? 2 : code.rawValue == 64 ? 2 : 1)
        }
    }
}
