import Addressing
import ArgumentParser
import Firewall

/// Times what the set benchmark (Benchmarks/firewall-sets.sh) compares with the nft CLI:
/// installing the table with N peers in one batch, and one element add and remove with N present.
struct Bench: ParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Time bulk set loads and single-element changes.")
    @OptionGroup var options: PolicyOptions
    @Option(help: "Peer addresses in the set.") var count = 100_000
    @Option(help: "Full loads to time.") var loads = 5
    @Option(help: "Single adds and removes to time.") var changes = 50

    func run() throws {
        let policy = try options.policy()
        // 10.64.0.0/10 holds 4 million addresses: room for the peers and the changed one.
        let peers = Set((0..<count).map { IPAddress.v4(0x0A40_0000 + UInt32($0)) })
        let extra = IPAddress.v4(0x0A40_0000 + UInt32(count) + 1)
        let firewall = try Firewall()
        let clock = ContinuousClock()
        var loadTimes: [Double] = []
        for _ in 0..<loads {
            let started = clock.now
            try firewall.replace(policy, peers: peers)
            loadTimes.append(milliseconds(clock.now - started))
        }
        // Read back until two readings agree: a dump taken while the kernel's hash table is still
        // resizing after a bulk load can miss elements (seen here on Linux 6.18).
        var readings: [Int] = []
        for _ in 0..<5 {
            readings.append(try firewall.readBack()?.peerAddresses.count ?? 0)
            if readings.last == count { break }
        }
        guard readings.last == count else {
            throw ValidationError("after loading, read-backs found \(readings) addresses, not \(count)")
        }
        var addTimes: [Double] = []
        var removeTimes: [Double] = []
        for _ in 0..<changes {
            var started = clock.now
            try firewall.changePeers(add: [extra], remove: [])
            addTimes.append(milliseconds(clock.now - started))
            started = clock.now
            try firewall.changePeers(add: [], remove: [extra])
            removeTimes.append(milliseconds(clock.now - started))
        }
        emit("{\"count\": \(count), \"load_ms_median\": \(median(loadTimes)), \"add_ms_median\": \(median(addTimes)), \"remove_ms_median\": \(median(removeTimes)), \"load_ms\": \(loadTimes), \"readback_counts\": \(readings)}")
    }

    private func milliseconds(_ duration: Duration) -> Double {
        Double(duration.components.seconds) * 1000 + Double(duration.components.attoseconds) / 1e15
    }

    private func median(_ values: [Double]) -> Double {
        let sorted = values.sorted()
        return sorted.count % 2 == 1 ? sorted[sorted.count / 2] : (sorted[sorted.count / 2 - 1] + sorted[sorted.count / 2]) / 2
    }
}
