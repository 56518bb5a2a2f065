import ArgumentParser

/// Drives popgate's firewall against the real kernel inside a network namespace, for the
/// integration tests and the set benchmark. Stands in for popnetd as the table's owner.
@main
struct FwCheck: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "popgate-fwcheck",
        abstract: "Install, inspect, watch and benchmark popgate's nftables policy.",
        subcommands: [Install.self, Peers.self, Verify.self, Dump.self, Watch.self, FlushConntrack.self, RenderNft.self, Bench.self]
    )
}
