import InferenceSim
import Logging
import NIOCore
import NIOPosix
import PopConfig

/// A backend of a live gateway: a simulated inference worker (``SimulatorServer``) on loopback, or
/// one that is down, whose port refuses connections.
///
/// The simulator answers as llama.cpp's server for a `llamacpp` worker and as vLLM for every other
/// kind; the kind decides what the gateway asks of it (vLLM's continuous usage, llama.cpp's timings,
/// the cache salt) and where it reads its health and load.
package struct TestWorker: Sendable {
    /// The backend's name in the configuration, the receipts and the logs.
    package var name: String
    package var kind: WorkerKind
    package var models: [String]
    /// The simulator's generation rate; 0 answers at once. A stream meant to be cut needs a rate, so
    /// the tokens the gateway relays are the ones the client has read (50 a second: one per 20 ms).
    package var tokensPerSecond: Double
    /// A worker that is down: nothing listens on its port.
    package var isDown: Bool

    /// A simulator serving `models`.
    package static func simulator(
        _ name: String, kind: WorkerKind = .vllm, models: [String] = ["sim-small"], tokensPerSecond: Double = 0
    ) -> TestWorker {
        TestWorker(name: name, kind: kind, models: models, tokensPerSecond: tokensPerSecond, isDown: false)
    }

    /// A backend that is configured but down: connecting to it is refused at once.
    package static func down(_ name: String, kind: WorkerKind = .vllm, models: [String] = ["sim-small"]) -> TestWorker {
        TestWorker(name: name, kind: kind, models: models, tokensPerSecond: 0, isDown: true)
    }

    /// Its `[[backends]]` table, for a worker listening on 127.0.0.1:`port`.
    func backendTOML(port: Int) -> String {
        """

        [[backends]]
        name = "\(name)"
        url = "http://127.0.0.1:\(port)"
        models = [\(models.map { "\"\($0)\"" }.joined(separator: ", "))]
        kind = "\(kind.rawValue)"

        """
    }

    /// Binds the simulator (nil for a worker that is down) and says which port the gateway is to use.
    func bind(group: any EventLoopGroup, logger: Logger) async throws -> (simulator: SimulatorServer?, port: Int) {
        guard !isDown else { return (nil, try await Self.refusingPort(group: group)) }
        let options = try SimulatorOptions(
            listen: ListenAddress(host: "127.0.0.1", port: 0), models: models, tokensPerSecond: tokensPerSecond,
            engine: kind == .llamacpp ? .llamacpp : .vllm
        )
        let simulator = try await SimulatorServer.bind(options: options, group: group, logger: logger)
        return (simulator, simulator.port)
    }

    /// A port on 127.0.0.1 whose listener has just closed: the kernel refuses a connection to it (RST)
    /// until another socket happens to take it, which the kernel's ephemeral port choice makes rare.
    private static func refusingPort(group: any EventLoopGroup) async throws -> Int {
        let listener = try await ServerBootstrap(group: group).bind(host: "127.0.0.1", port: 0).get()
        guard let port = listener.localAddress?.port else {
            preconditionFailure("a socket bound to 127.0.0.1 has a port")
        }
        try await listener.close()
        return port
    }
}
