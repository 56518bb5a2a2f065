import Logging
import NIOCore
import PopConfig
import ServiceLifecycle

/// Checks every backend's health and reads its load every `interval`, into the ``BackendBoard``.
///
/// Health is the worker's own health endpoint answering 200; load is read from its Prometheus
/// metrics where it publishes them (vLLM, llama.cpp), and its model listing is kept for the
/// gateway's own `GET /v1/models`. A worker whose metrics cannot be read but
/// whose health check passes stays healthy with its last known load.
public struct BackendMonitor: Service {
    private let backends: [BackendSettings]
    private let board: BackendBoard
    private let workers: WorkerConnectionPool
    private let interval: Duration
    private let logger: Logger

    public init(
        backends: [BackendSettings], board: BackendBoard, workers: WorkerConnectionPool, interval: Duration, logger: Logger
    ) {
        self.backends = backends
        self.board = board
        self.workers = workers
        self.interval = interval
        self.logger = logger
    }

    public func run() async throws {
        while !Task.isCancelled && !Task.isShuttingDownGracefully {
            await checkAll()
            try? await Task.sleep(for: interval)
        }
    }

    /// One round of checks, all backends at once.
    public func checkAll() async {
        await withTaskGroup(of: Void.self) { group in
            for index in backends.indices {
                group.addTask { await check(index) }
            }
        }
    }

    private func check(_ index: Int) async {
        let backend = backends[index]
        // Answers slower than this count as failures, so a hung worker leaves the rotation; never
        // under 2 s, so a worker busy generating is not mistaken for a dead one.
        let timeout = TimeAmount.milliseconds(max(2000, interval.wholeMilliseconds))
        do {
            let health = try await workers.fetch(backend: index, path: backend.kind.healthPath, timeout: timeout)
            guard health.status == 200 else { throw BackendCheckError(status: health.status) }
            var queue: Double?
            var pressure: Double?
            if let metrics = backend.kind.metrics,
               let text = try? await workers.fetch(backend: index, path: "/metrics", timeout: timeout), text.status == 200
            {
                queue = PrometheusText.sum(of: metrics.queue, in: text.body)
                switch metrics.pressure {
                case .gauge(let name):
                    pressure = PrometheusText.sum(of: name, in: text.body)
                case .busySlots(let processing, let propsPath):
                    // The slot count is read with every check: a restarted worker may have been given another.
                    let props = try? await workers.fetch(backend: index, path: propsPath, timeout: timeout)
                    pressure = BusySlots.share(
                        processing: PrometheusText.sum(of: processing, in: text.body),
                        props: props?.status == 200 ? props?.body : nil
                    )
                }
            }
            // The worker's own descriptions of its models, for the gateway's `GET /v1/models`.
            let listing = backend.kind == .openai ? health : try? await workers.fetch(backend: index, path: "/v1/models", timeout: timeout)
            if let listing, listing.status == 200 {
                board.listed(index, entries: ModelListing.entries(fromListing: listing.body))
            }
            board.checkPassed(index, queueDepth: queue, gpuPressure: pressure)
        } catch {
            board.failed(index)
            logger.debug("backend check failed", metadata: ["backend": "\(backend.name)", "error": "\(error)"])
        }
    }
}

struct BackendCheckError: Error, CustomStringConvertible {
    let status: UInt
    var description: String { "health check answered HTTP \(status)" }
}
