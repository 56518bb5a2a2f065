import Foundation
import Logging
import PopConfig

/// What the gateway knows of one backend right now: whether it is healthy, and its load.
public struct BackendLoad: Sendable, Equatable {
    /// Passing health checks; a new backend counts as healthy until checks say otherwise.
    public var healthy = true
    /// Requests waiting at the worker (vLLM `num_requests_waiting`, llama.cpp `requests_deferred`),
    /// or for workers that publish none, the gateway's own requests in flight to it.
    public var queueDepth: Double = 0
    /// KV-cache usage, 0 to 1 (vLLM `kv_cache_usage_perc`); 0 when the worker publishes none.
    public var gpuPressure: Double = 0
    /// Requests the gateway has in flight to it.
    public var inFlight = 0
    var consecutiveFailures = 0
    var consecutivePasses = 0

    public init(healthy: Bool = true, queueDepth: Double = 0, gpuPressure: Double = 0) {
        self.healthy = healthy
        self.queueDepth = queueDepth
        self.gpuPressure = gpuPressure
    }
}

/// The live state of every configured backend, written by ``BackendMonitor`` and by requests,
/// read by the router. Health changes with hysteresis: `unhealthyAfter` failures in a row take a
/// backend out, `healthyAfter` passed checks in a row put it back, so one blip does neither.
public final class BackendBoard: @unchecked Sendable {
    private let lock = NSLock()
    private var loads: [BackendLoad]
    private var listings: [[String: String]]
    private let kinds: [WorkerKind]
    private let names: [String]
    private let logger: Logger?
    private let unhealthyAfter: Int
    private let healthyAfter: Int

    /// `logger` is told of every change of health, whichever check or request caused it.
    public init(backends: [BackendSettings], unhealthyAfter: Int, healthyAfter: Int, logger: Logger? = nil) {
        loads = Array(repeating: BackendLoad(), count: backends.count)
        listings = Array(repeating: [:], count: backends.count)
        kinds = backends.map(\.kind)
        names = backends.map(\.name)
        self.logger = logger
        self.unhealthyAfter = unhealthyAfter
        self.healthyAfter = healthyAfter
    }

    /// Every backend's state, in configuration order.
    public var current: [BackendLoad] { lock.withLock { loads } }

    /// A health check passed, with the load figures the worker published (nil: none).
    public func checkPassed(_ index: Int, queueDepth: Double?, gpuPressure: Double?) {
        let recovered = lock.withLock {
            let was = loads[index].healthy
            loads[index].consecutiveFailures = 0
            loads[index].consecutivePasses += 1
            if loads[index].consecutivePasses >= healthyAfter { loads[index].healthy = true }
            if let queueDepth { loads[index].queueDepth = queueDepth }
            if let gpuPressure { loads[index].gpuPressure = gpuPressure }
            return !was && loads[index].healthy
        }
        if recovered { logger?.info("backend healthy again", metadata: ["backend": "\(names[index])"]) }
    }

    /// The models each backend lists, as ``ModelListing/entries(fromListing:)`` reads them.
    public var modelEntries: [[String: String]] { lock.withLock { listings } }

    /// The backend's own model listing, read with a health check.
    public func listed(_ index: Int, entries: [String: String]) {
        lock.withLock { listings[index] = entries }
    }

    /// A health check failed, or a request could not reach the backend.
    public func failed(_ index: Int) {
        let wentDown = lock.withLock {
            let was = loads[index].healthy
            loads[index].consecutivePasses = 0
            loads[index].consecutiveFailures += 1
            if loads[index].consecutiveFailures >= unhealthyAfter { loads[index].healthy = false }
            return was && !loads[index].healthy
        }
        if wentDown { logger?.warning("backend unhealthy", metadata: ["backend": "\(names[index])"]) }
    }

    /// A request to the backend starts; for workers that publish no queue, it counts as queue.
    public func requestStarted(_ index: Int) {
        lock.withLock {
            loads[index].inFlight += 1
            if !kinds[index].publishesQueue { loads[index].queueDepth = Double(loads[index].inFlight) }
        }
    }

    /// A request to the backend ended.
    public func requestEnded(_ index: Int) {
        lock.withLock {
            loads[index].inFlight -= 1
            if !kinds[index].publishesQueue { loads[index].queueDepth = Double(loads[index].inFlight) }
        }
    }
}
