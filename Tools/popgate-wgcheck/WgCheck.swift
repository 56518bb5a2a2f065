import ArgumentParser

/// Drives popgate's WireGuard backends against a real device (the kernel module in a VM, or
/// wireguard-go on the host) and checks every result against the real `wg` tool.
@main
struct WgCheck: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "popgate-wgcheck",
        abstract: "Check and benchmark popgate's WireGuard backends against a real device.",
        subcommands: [Suite.self, Bench.self, Configure.self]
    )
}

/// Which implementation to drive.
enum BackendKind: String, ExpressibleByArgument, CaseIterable {
    case kernel, userspace
}
