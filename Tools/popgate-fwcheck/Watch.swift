import ArgumentParser
import Firewall

#if canImport(Glibc)
import Glibc
#endif

/// Prints every change to table inet popgate as a JSON line; with `--repair`, acts as the
/// table's owner: installs the policy, and after any change reads back and repairs drift.
struct Watch: ParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Report (and optionally repair) changes to table inet popgate.")
    @OptionGroup var options: PolicyOptions
    @Option(name: .customLong("duration-ms"), help: "How long to watch; 0 = until killed.") var durationMilliseconds = 0
    @Flag(help: "Repair drift after every change (the stand-in owner).") var repair = false

    func run() throws {
        let policy = try options.policy()
        let peers = try options.peers()
        // Subscribe before the first install, so no change between the two is missed.
        let monitor = try FirewallMonitor()
        let firewall = try Firewall()
        if repair { try firewall.repair(policy, peers: peers, monitor: monitor) }
        emit("{\"ready\": true}")
        let clock = ContinuousClock()
        let deadline = clock.now + .milliseconds(durationMilliseconds)
        while durationMilliseconds == 0 || clock.now < deadline {
            let left = durationMilliseconds == 0 ? 1000 : max(1, Int32(min(1000, (deadline - clock.now) / .milliseconds(1))))
            var changed = false
            switch try monitor.wait(timeoutMilliseconds: left) {
            case .events(let events):
                for event in events { emit("{\"event\": \(json(event.description))}") }
                changed = !events.isEmpty
            case .eventsLost:
                emit("{\"event\": \"notifications lost\"}")
                changed = true
            }
            guard repair, changed else { continue }
            let started = clock.now
            let drift = try firewall.repair(policy, peers: peers, monitor: monitor)
            guard !drift.isEmpty else { continue }
            let took = Double((clock.now - started) / .microseconds(1)) / 1000
            emit("{\"repaired\": \(json(drift.description)), \"ms\": \(took)}")
        }
    }
}
