import Logging
import PopConfig
import Receipts

/// What every connection of the gateway shares: the registry snapshot, the backends and their
/// state, the worker connections, the limits, and the settings.
struct GatewayContext: Sendable {
    let directory: PeerDirectory
    let router: BackendRouter
    let board: BackendBoard
    let workers: WorkerConnectionPool
    let cacheSalt: CacheSalt
    let limiter: RateLimiter
    let streams: StreamCounter
    let settings: GatewaySettings
    let metrics: GatewayMetrics
    let logger: Logger
    let receipts: ReceiptLog
    let receiptAPI: ReceiptAPI
}
