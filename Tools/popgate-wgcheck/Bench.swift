import Addressing
import ArgumentParser
import Foundation
import Sodium
import WireGuard

/// Times popgate against `wg` on the same device in the same run: a full apply of N peers
/// (vs `wg setconf`) and one peer added with N present (vs `wg set`). Prints medians.
struct Bench: ParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Benchmark popgate against wg on one device.")

    @Option(help: "kernel or userspace.") var backend: BackendKind
    @Option(help: "The interface.") var interface = "wgbench0"
    @Option(help: "wireguard-go's socket directory.") var socketDirectory = "/var/run/wireguard"
    @Option(help: "Peers in the full apply.") var peers = 10_000
    @Option(help: "Repetitions; medians are printed.") var runs = 5

    func run() throws {
        let device = try Device.open(backend, interface: interface, socketDirectory: socketDirectory)
        let privateKey = Curve25519PrivateKey()
        let set = PeerSet.make(peers)
        let file = NSTemporaryDirectory() + "popgate-bench-\(getpid()).conf"
        // The config file holds a private key: create it private.
        let previousMask = umask(0o077)
        try PeerSet.setconf(privateKeyBase64: privateKey.base64Secret(), listenPort: 51901, peers: set)
            .write(toFile: file, atomically: true, encoding: .utf8)
        umask(previousMask)
        defer { unlink(file) }

        var ours: [Duration] = [], theirs: [Duration] = [], oursOne: [Duration] = [], theirsOne: [Duration] = []
        let clock = ContinuousClock()
        for run in 0..<runs {
            try device.apply(DeviceChange(replacePeers: true))
            ours.append(try clock.measure {
                try device.apply(DeviceChange(
                    privateKeyBase64: privateKey.base64Secret(), listenPort: 51901, replacePeers: true, upsertPeers: set
                ))
            })
            guard try device.status().peers.count == peers else { throw CheckFailure("popgate's apply left a wrong peer count") }
            let extra = PeerSet.make(1, offset: peers + 100 + run)[0]
            oursOne.append(try clock.measure { try device.apply(DeviceChange(upsertPeers: [extra])) })

            try device.apply(DeviceChange(replacePeers: true))
            theirs.append(try clock.measure { _ = try WgTool.run(["setconf", interface, file]) })
            guard try device.status().peers.count == peers else { throw CheckFailure("wg setconf left a wrong peer count") }
            let extraForWg = PeerSet.make(1, offset: peers + 200 + run)[0]
            theirsOne.append(try clock.measure {
                _ = try WgTool.run(["set", interface, "peer", extraForWg.publicKey.base64, "allowed-ips", extraForWg.allowedIPs[0].description])
            })
        }
        try device.apply(DeviceChange(replacePeers: true))
        let full = (median(ours), median(theirs))
        let one = (median(oursOne), median(theirsOne))
        print("backend=\(backend.rawValue) peers=\(peers) runs=\(runs)")
        print("full apply:   popgate \(ms(full.0)) ms   wg setconf \(ms(full.1)) ms   ratio popgate/wg \(ratio(full.0, full.1))")
        print("one peer add: popgate \(ms(one.0)) ms   wg set     \(ms(one.1)) ms   ratio popgate/wg \(ratio(one.0, one.1))")
        print("all popgate full-apply runs (ms): \(ours.map(ms).joined(separator: " "))")
        print("all wg setconf runs (ms):         \(theirs.map(ms).joined(separator: " "))")
    }

    private func median(_ values: [Duration]) -> Duration { values.sorted()[values.count / 2] }
    private func ms(_ value: Duration) -> String {
        let (seconds, attoseconds) = value.components
        return String(format: "%.2f", Double(seconds) * 1000 + Double(attoseconds) / 1e15)
    }
    private func ratio(_ a: Duration, _ b: Duration) -> String {
        String(format: "%.2f", (Double(ms(a)) ?? 0) / max(Double(ms(b)) ?? 1, 0.001))
    }
}
