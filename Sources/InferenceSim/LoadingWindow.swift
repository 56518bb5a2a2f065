/// The time after the listener opens during which llama-server is still loading its model and so
/// answers every request with 503 ``SimulatorError/loadingModel``: a router must keep such a worker
/// out of rotation without taking the 503 for a failure of a loaded one.
struct LoadingWindow: Sendable {
    /// The first instant at which the model counts as loaded.
    let end: ContinuousClock.Instant

    /// The window of `loadingTime` from `opened`; empty for a zero loading time.
    init(opened: ContinuousClock.Instant, loadingTime: Duration) {
        end = opened + loadingTime
    }

    /// Whether the model is still loading at `instant`.
    func isLoading(at instant: ContinuousClock.Instant) -> Bool {
        instant < end
    }
}
