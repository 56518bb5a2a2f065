import PopConfig

/// Picks the inference worker for a model. For now: the first configured backend that serves
/// it (tier weights, health and load come with the full router).
public struct BackendRouter: Sendable {
    /// The configured backends, in preference order.
    public let backends: [BackendSettings]

    /// Creates a router over `backends`.
    public init(backends: [BackendSettings]) {
        self.backends = backends
    }

    /// The backend for `model`, or nil when none serves it.
    public func backend(for model: String) -> BackendSettings? {
        backends.first { $0.models.contains(model) }
    }

    /// The backend that answers model listings.
    public var listingBackend: BackendSettings? { backends.first }
}
