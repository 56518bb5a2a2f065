import ArgumentParser
import Foundation
import PopConfig

struct StatusCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "status",
        abstract: "Show popnetd's state: backend, interface, peer counts, last reconcile and last error.",
        discussion: "Asks popnetd's root-only status socket (<netd.run_directory>/popnetd.sock); run as root."
    )

    @OptionGroup var options: GlobalOptions
    @Flag(help: "Print popnetd's whole status document as JSON (with every peer's counters).") var json = false

    func run() throws {
        let configuration = try options.loadConfiguration()
        let path = configuration.netd.statusSocketPath
        let data = try StatusSocketClient.fetch(path)
        let status = try PopnetdStatus.decode(data, from: path)
        print(try Self.render(status, raw: data, json: json, now: Date()), terminator: "")
    }

    /// The status as printed: aligned lines, or popnetd's document re-indented (fields this
    /// popctl does not know yet are kept, not dropped by re-encoding).
    static func render(_ status: PopnetdStatus, raw: Data, json: Bool, now: Date) throws -> String {
        if json {
            let object = try JSONSerialization.jsonObject(with: raw)
            let pretty = try JSONSerialization.data(
                withJSONObject: object, options: [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
            )
            return String(decoding: pretty, as: UTF8.self) + "\n"
        }
        let lastReconcile = status.lastReconcile.map { "\(JSONOutput.timestamp($0)) (\(HumanUnits.ago($0, now: now)))" }
        var rows = [
            ["backend", status.backend],
            ["interface", status.interface],
            ["listen port", "\(status.listenPort)"],
            ["public key", status.publicKey],
            ["peers", "\(status.peersDesired) desired, \(status.peersOnDevice) on the device"],
        ]
        if let pending = status.rotationsPending { rows.append(["rotations pending", "\(pending)"]) }
        if let state = status.registryState {
            let since = status.registryDegradedSince.map {
                " since \(JSONOutput.timestamp($0)) (\(HumanUnits.ago($0, now: now)))"
            }
            let why = status.registryError.map { ": \($0)" } ?? ""
            rows.append([
                "registry",
                state == "degraded" ? "DEGRADED\(since ?? ""), enforcing the last snapshot\(why)" : state,
            ])
        }
        rows += [
            ["last reconcile", lastReconcile ?? "never"],
            ["last error", status.lastError ?? "none"],
            ["drift repairs", "\(status.driftRepairs)"],
            ["reconciles", "\(status.reconciles)"],
        ]
        if let firewall = status.firewall {
            let peers = status.firewallPeers ?? 0
            let repairs = status.firewallRepairs ?? 0
            rows.append([
                "firewall",
                firewall
                    ? "on, \(peers) \(peers == 1 ? "peer" : "peers"), \(repairs) \(repairs == 1 ? "repair" : "repairs")"
                    : "off ([firewall] enabled = false)",
            ])
            if firewall { rows.append(["firewall error", status.firewallError ?? "none"]) }
        }
        return TextRecord(rows: rows).render()
    }
}
