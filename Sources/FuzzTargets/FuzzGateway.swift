import Addressing
import Foundation
import Gateway
import Logging
import NIOPosix
import PopConfig
import Receipts
import Registry
import Sodium
import Synchronization

/// popgated's state for the HTTP target, in memory: one live peer with one API key, backends that
/// serve the model `m` but are all down (so a request that passes everything ends in a no-backend
/// answer, never in a connection to a worker), and a receipt log on /dev/shm.
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
        var initializer: GatewayChannelInitializer
        var receipts: ReceiptLog
        var generation: Int
    }

    private let configuration: PopConfiguration
    private let directory: PeerDirectory
    private let board: BackendBoard
    private let cacheSalt: CacheSalt
    private let workers: WorkerConnectionPool
    private let metrics = GatewayMetrics()
    private let signer: NoteSigner
    private let logger = Logger(label: "popgate-fuzz") { _ in SwiftLogNoOpLogHandler() }
    private let scratch: String
    private let current: Mutex<Current>

    private init() {
        do {
            configuration = try PopConfiguration.parse(Self.configurationText)
            let token = APIKeyToken(presented: Self.apiKey[...])!
            let peer = Peer(
                id: 1, tenantID: 1, tenantName: "acme", name: "laptop",
                publicKey: try Curve25519PublicKey(rawBytes: [UInt8](repeating: 9, count: 32)),
                address: IPAddress(Self.peerAddress)!, presharedKey: nil, state: .active, createdAt: Date()
            )
            directory = PeerDirectory(RegistrySnapshot(
                revision: 1, peers: [peer],
                apiKeys: [APIKeyRecord(keyID: token.keyID, tenantID: 1, secretHash: token.secretHash, defaultTier: .fast)]
            ))
            board = BackendBoard(backends: configuration.backends, unhealthyAfter: 1, healthyAfter: 1)
            for index in configuration.backends.indices { board.failed(index) }
            cacheSalt = CacheSalt(key: SecretBytes(copying: [UInt8](repeating: 3, count: 32)))
            workers = try WorkerConnectionPool(backends: configuration.backends, group: MultiThreadedEventLoopGroup.singleton)
            signer = FuzzKeys.signer
            scratch = Self.scratchPath
            try? FileManager.default.removeItem(atPath: scratch)
            try FileManager.default.createDirectory(atPath: scratch, withIntermediateDirectories: true)
            let receipts = try Self.receiptLog(in: scratch, generation: 0, signer: signer, logger: logger)
            let initializer = Self.initializer(
                configuration: configuration, directory: directory, board: board, cacheSalt: cacheSalt, workers: workers,
                receipts: receipts, metrics: metrics, logger: logger
            )
            current = Mutex(Current(initializer: initializer, receipts: receipts, generation: 0))
        } catch {
            fatalError("the fuzz gateway cannot be set up: \(error)")
        }
        // libFuzzer ends the process with exit(): the scratch receipt logs go with it.
        atexit { FuzzGateway.removeScratch() }
    }

    /// The channel initializer to set the next connection up with.
    func initializer() -> GatewayChannelInitializer {
        current.withLock { state in
            if state.receipts.state.written >= Self.recycleAfter { recycle(&state) }
            return state.initializer
        }
    }

    private func recycle(_ state: inout Current) {
        let old = state.receipts.directory
        let generation = state.generation + 1
        do {
            let receipts = try Self.receiptLog(in: scratch, generation: generation, signer: signer, logger: logger)
            state = Current(
                initializer: Self.initializer(
                    configuration: configuration, directory: directory, board: board, cacheSalt: cacheSalt,
                    workers: workers, receipts: receipts, metrics: metrics, logger: logger
                ),
                receipts: receipts, generation: generation
            )
        } catch {
            fatalError("a fresh fuzz receipt log cannot be made: \(error)")
        }
        try? FileManager.default.removeItem(atPath: old)
    }

    private static func receiptLog(in scratch: String, generation: Int, signer: NoteSigner, logger: Logger) throws -> ReceiptLog {
        try ReceiptLog(
            directory: "\(scratch)/receipts-\(generation)", signer: signer, checkpointInterval: .milliseconds(100),
            logger: logger
        )
    }

    private static func initializer(
        configuration: PopConfiguration, directory: PeerDirectory, board: BackendBoard, cacheSalt: CacheSalt,
        workers: WorkerConnectionPool, receipts: ReceiptLog, metrics: GatewayMetrics, logger: Logger
    ) -> GatewayChannelInitializer {
        GatewayChannelInitializer(
            configuration: configuration, directory: directory, board: board, cacheSalt: cacheSalt, workers: workers,
            receipts: receipts, metrics: metrics, logger: logger, tls: nil
        )
    }

    /// Where the receipt logs go: Fuzz/fuzz.sh names the place (and removes it also after a crash,
    /// when no exit handler runs); else one per process.
    private static let scratchPath =
        ProcessInfo.processInfo.environment["POPGATE_FUZZ_RECEIPTS"] ?? "/dev/shm/popgate-fuzz-\(getpid())"

    private static func removeScratch() {
        try? FileManager.default.removeItem(atPath: scratchPath)
    }
}
