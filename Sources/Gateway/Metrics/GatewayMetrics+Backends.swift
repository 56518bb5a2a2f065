import PopConfig

extension GatewayMetrics {
    /// Copies the board's health and load of every backend into the backend gauges.
    ///
    /// Called when metrics are scraped rather than at every change: the board changes with every
    /// request (in-flight counts) and every check, and a scrape only ever sees the latest value.
    public func observe(_ board: BackendBoard, backends: [BackendSettings]) {
        for (backend, load) in zip(backends, board.current) {
            backendHealth(backend: backend.name, healthy: load.healthy)
            backendLoad(backend: backend.name, queueDepth: load.queueDepth, gpuPressure: load.gpuPressure)
        }
    }
}
