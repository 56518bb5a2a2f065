import Foundation
import Gateway
import GatewayTesting
import NIOPosix
import PopConfig
import Synchronization

/// popgated's state for the HTTP target, in memory (``GatewayAssembly``): one live peer with one API
/// key, backends that serve the model `m` but are all down (so a request that passes everything ends
/// in a no-backend answer, never in a connection to a worker), and a receipt log on /dev/shm.
///
/// Built once per process; the receipt log is swapped for a fresh one every ``recycleAfter``
/// receipts, so a long run neither fills /dev/shm nor grows the in-memory tree without bound.
final class FuzzGateway: Sendable {
    /// The live peer's tunnel address, the source every input comes from unless it asks otherwise.
    static let peerAddress = "10.77.0.2"
    /// A source that is not a peer: it must get nothing.
    static let strangerAddress = "10.77.0.9"
    /// The API key the seeds send (`Authorization: Bearer …`); fixed, so committed seeds pass authentication.
    static let apiKey = "popk_00000000000000f1_" + String(repeating: "ab", count: 32)
    static let recycleAfter: UInt64 = 4096

    static let configurationText = """
        [wireguard]
        address = "10.77.0.1/24"
        endpoint = "198.51.100.1:51820"

        [gateway]
        tier_header = "X-Siati-Tier"
        unhealthy_after = 1
        healthy_after = 1
        max_request_body_bytes = 65536
        max_header_bytes = 8192

        [limits]
        max_streams_per_peer = 4
        slow = { requests_per_minute = 0, tokens_per_minute = 0 }
        medium = { requests_per_minute = 0, tokens_per_minute = 0 }
        fast = { requests_per_minute = 0, tokens_per_minute = 0 }
        ludicrous = { requests_per_minute = 0, tokens_per_minute = 0 }

        [[backends]]
        name = "gpu-1"
        url = "http://10.99.0.2:8000"
        models = ["m"]
        kind = "vllm"
        priority_scheduling = true

        [[backends]]
        name = "mini"
        url = "http://10.99.0.3:11434"
        models = ["m", "n"]
        kind = "ollama"
        """

    static let shared = FuzzGateway()

    private struct Current: Sendable {
        var assembly: GatewayAssembly
        var generation: Int
    }

    private let scratch = FuzzGateway.scratchPath
    private let current: Mutex<Current>

    private init() {
        do {
            try? FileManager.default.removeItem(atPath: scratch)
            try FileManager.default.createDirectory(atPath: scratch, withIntermediateDirectories: true)
            // Built as the gateway's tests build it (GatewayTesting), for in-memory channels: no listener,
            // no worker, no task.
            let peer = TestPeer(address: Self.peerAddress, tenant: "acme", apiKey: Self.apiKey)
            let setup = GatewaySetup(toml: Self.configurationText, peers: [peer])
            let assembly = try GatewayAssembly(
                setup: setup, receiptsDirectory: "\(scratch)/receipts-0", signer: FuzzKeys.signer,
                group: MultiThreadedEventLoopGroup.singleton
            )
            for index in assembly.configuration.backends.indices { assembly.board.failed(index) }
            current = Mutex(Current(assembly: assembly, generation: 0))
        } catch {
            fatalError("the fuzz gateway cannot be set up: \(error)")
        }
        // libFuzzer ends the process with exit(): the scratch receipt logs go with it.
        atexit { FuzzGateway.removeScratch() }
    }

    /// The channel initializer to set the next connection up with.
    func initializer() -> GatewayChannelInitializer {
        current.withLock { state in
            if state.assembly.receipts.state.written >= Self.recycleAfter { recycle(&state) }
            return state.assembly.initializer
        }
    }

    private func recycle(_ state: inout Current) {
        let old = state.assembly.receipts.directory
        let generation = state.generation + 1
        do {
            let assembly = try state.assembly.replacingReceipts(in: "\(scratch)/receipts-\(generation)")
            state = Current(assembly: assembly, generation: generation)
        } catch {
            fatalError("a fresh fuzz receipt log cannot be made: \(error)")
        }
        try? FileManager.default.removeItem(atPath: old)
    }

    /// Where the receipt logs go: Fuzz/fuzz.sh names the place (and removes it also after a crash,
    /// when no exit handler runs); else one per process.
    private static let scratchPath =
        ProcessInfo.processInfo.environment["POPGATE_FUZZ_RECEIPTS"] ?? "/dev/shm/popgate-fuzz-\(getpid())"

    private static func removeScratch() {
        try? FileManager.default.removeItem(atPath: scratchPath)
    }
}
