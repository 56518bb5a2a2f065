import Addressing
import ArgumentParser
import Foundation
import Sodium
import WireGuard

/// Applies 1, 1,000 and 10,000 peers and single-peer changes, and checks each result both
/// through popgate's own reader and through `wg show dump`.
struct Suite: ParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Run the backend correctness suite.")

    @Option(help: "kernel or userspace.") var backend: BackendKind
    @Option(help: "The interface (kernel: created if missing; userspace: wireguard-go must run).") var interface = "wgcheck0"
    @Option(help: "wireguard-go's socket directory.") var socketDirectory = "/var/run/wireguard"
    @Option(help: "Peer counts to apply in turn.") var sizes = "1,1000,10000"

    func run() throws {
        let device = try Device.open(backend, interface: interface, socketDirectory: socketDirectory)
        let privateKey = Curve25519PrivateKey()
        var failures = 0
        func check(_ name: String, _ body: () throws -> Void) {
            do {
                try body()
                print("ok   \(name)")
            } catch {
                failures += 1
                print("FAIL \(name): \(error)")
            }
        }
        var current: [PeerConfiguration] = []
        for size in sizes.split(separator: ",").compactMap({ Int($0) }) {
            check("apply \(size) peers (\(backend.rawValue)) and read them back exactly") {
                current = PeerSet.make(size)
                let started = ContinuousClock.now
                try device.apply(DeviceChange(
                    privateKeyBase64: privateKey.base64Secret(), listenPort: 51900, replacePeers: true, upsertPeers: current
                ))
                let elapsed = ContinuousClock.now - started
                try verify(device, privateKey: privateKey, expected: current)
                print("     applied in \(elapsed)")
            }
        }
        guard current.count >= 2 else { throw ExitCode(failures == 0 ? 0 : 1) }
        check("add one peer with \(current.count) present") {
            let added = PeerSet.make(1, offset: current.count + 10)[0]
            try device.apply(DeviceChange(upsertPeers: [added]))
            current.append(added)
            try verify(device, privateKey: privateKey, expected: current)
        }
        check("change one peer's allowed IPs and keepalive with \(current.count) present") {
            var changed = current[1]
            changed.allowedIPs = [PeerSet.address(current.count + 500)]
            changed.persistentKeepalive = 15
            try device.apply(DeviceChange(upsertPeers: [changed]))
            current[1] = changed
            try verify(device, privateKey: privateKey, expected: current)
        }
        check("remove one peer with \(current.count) present") {
            let removed = current.remove(at: 0)
            try device.apply(DeviceChange(removePeers: [removed.publicKey]))
            try verify(device, privateKey: privateKey, expected: current)
        }
        check("an unknown interface is reported, naming it") {
            let missing = try? Device.open(.userspace, interface: "wgnone9", socketDirectory: socketDirectory).status()
            if backend == .kernel {
                do {
                    _ = try KernelBackend(interface: "wgnone9").status()
                    throw CheckFailure("reading a missing interface succeeded")
                } catch let error as WireGuardError {
                    guard error.message.contains("wgnone9") else { throw CheckFailure("the error does not name the interface: \(error)") }
                }
            } else if missing != nil {
                throw CheckFailure("reading a missing interface succeeded")
            }
        }
        print(failures == 0 ? "suite passed" : "suite FAILED: \(failures) check(s)")
        if failures > 0 { throw ExitCode(1) }
    }

    private func verify(_ device: any WireGuardBackend, privateKey: Curve25519PrivateKey, expected: [PeerConfiguration]) throws {
        let status = try device.status()
        guard status.publicKey == privateKey.publicKey else { throw CheckFailure("the device reports another public key") }
        guard status.listenPort == 51900 else { throw CheckFailure("listen port \(String(describing: status.listenPort))") }
        let want = Dictionary(uniqueKeysWithValues: expected.map { ($0.publicKey.base64, PeerView($0)) })
        let ours = Dictionary(status.peers.map { ($0.publicKey.base64, PeerView($0)) }, uniquingKeysWith: { first, _ in first })
        guard status.peers.count == expected.count else {
            throw CheckFailure("popgate reads \(status.peers.count) peers; \(expected.count) were applied")
        }
        guard ours == want else { throw CheckFailure("popgate's reading differs from what was applied (\(difference(want, ours)))") }
        let wg = try WgTool.dump(interface)
        guard wg.peers == want else { throw CheckFailure("`wg show dump` differs from what was applied (\(difference(want, wg.peers)))") }
        guard wg.listenPort == 51900 else { throw CheckFailure("`wg show dump` listen port \(wg.listenPort)") }
    }

    private func difference(_ want: [String: PeerView], _ got: [String: PeerView]) -> String {
        let missing = want.keys.filter { got[$0] == nil }.count
        let extra = got.keys.filter { want[$0] == nil }.count
        let changed = want.keys.filter { got[$0] != nil && got[$0] != want[$0] }.count
        return "\(missing) missing, \(extra) extra, \(changed) different"
    }
}
