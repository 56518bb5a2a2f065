import PopConfig
import Registry

/// Picks the inference worker for a request, by tier, as the product's tier rule says: keep the backends
/// that serve the model, are healthy and weigh more than 0 for the tier; prefer the highest
/// weight, then the shortest queue, then the least GPU pressure (then configuration order).
///
/// Pure: the live state comes in as ``BackendLoad``s, so the order is tested without workers.
public struct BackendRouter: Sendable {
    /// The configured backends, in configuration order.
    public let backends: [BackendSettings]

    public init(backends: [BackendSettings]) {
        self.backends = backends
    }

    /// Whether any configured backend serves `model`, healthy or not.
    public func anyServes(_ model: String) -> Bool {
        backends.contains { $0.models.contains(model) }
    }

    /// The backends to try for (`model`, `tier`), best first: the request goes to the first and
    /// fails over to the next only when one cannot be reached before it answers.
    public func candidates(model: String, tier: Tier, loads: [BackendLoad]) -> [Int] {
        backends.indices
            .filter { index in
                backends[index].models.contains(model) && loads[index].healthy && weight(index, tier) > 0
            }
            .sorted { a, b in
                if weight(a, tier) != weight(b, tier) { return weight(a, tier) > weight(b, tier) }
                if loads[a].queueDepth != loads[b].queueDepth { return loads[a].queueDepth < loads[b].queueDepth }
                if loads[a].gpuPressure != loads[b].gpuPressure { return loads[a].gpuPressure < loads[b].gpuPressure }
                return a < b
            }
    }

    /// The backends that answer a model listing: the healthy ones, in configuration order.
    public func listing(loads: [BackendLoad]) -> [Int] {
        backends.indices.filter { loads[$0].healthy }
    }

    private func weight(_ index: Int, _ tier: Tier) -> Int {
        backends[index].tierWeights[tier.rawValue] ?? 0
    }
}
