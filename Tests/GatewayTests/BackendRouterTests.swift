import Gateway
import PopConfig
import Registry
import Testing

/// The product's routing rule by tier: filter by model, health and weight > 0; then weight
/// descending, queue depth ascending, GPU pressure ascending.
@Suite struct BackendRouterTests {
    static func backend(
        _ name: String, models: [String] = ["apertus-70b"], slow: Int = 1, medium: Int = 1, fast: Int = 1,
        ludicrous: Int = 1
    ) -> BackendSettings {
        BackendSettings(
            name: name, url: "http://10.99.0.2:8000", models: models,
            tierWeights: ["slow": slow, "medium": medium, "fast": fast, "ludicrous": ludicrous]
        )
    }

    @Test func theSeedsExampleLudicrousGoesToTheBlackwellNodeAndSlowToTheSpark() {
        let router = BackendRouter(backends: [
            Self.backend("spark", slow: 10, medium: 5, fast: 1, ludicrous: 0),
            Self.backend("blackwell-x4", slow: 0, medium: 1, fast: 5, ludicrous: 10),
        ])
        let idle = [BackendLoad(), BackendLoad()]
        #expect(router.candidates(model: "apertus-70b", tier: .ludicrous, loads: idle) == [1])
        #expect(router.candidates(model: "apertus-70b", tier: .slow, loads: idle) == [0])
        #expect(router.candidates(model: "apertus-70b", tier: .fast, loads: idle) == [1, 0])
    }

    @Test func equalWeightsGoToTheShortestQueueThenTheLeastPressureThenConfigurationOrder() {
        let router = BackendRouter(backends: [Self.backend("a"), Self.backend("b"), Self.backend("c"), Self.backend("d")])
        let loads = [
            BackendLoad(queueDepth: 3, gpuPressure: 0.1),
            BackendLoad(queueDepth: 1, gpuPressure: 0.9),
            BackendLoad(queueDepth: 1, gpuPressure: 0.2),
            BackendLoad(queueDepth: 1, gpuPressure: 0.2),
        ]
        #expect(router.candidates(model: "apertus-70b", tier: .medium, loads: loads) == [2, 3, 1, 0])
    }

    @Test func weightBeatsAShorterQueue() {
        let router = BackendRouter(backends: [Self.backend("light", fast: 1), Self.backend("heavy", fast: 2)])
        let loads = [BackendLoad(queueDepth: 0), BackendLoad(queueDepth: 50)]
        #expect(router.candidates(model: "apertus-70b", tier: .fast, loads: loads) == [1, 0])
    }

    @Test func unhealthyZeroWeightAndOtherModelBackendsAreLeftOut() {
        let router = BackendRouter(backends: [
            Self.backend("down"), Self.backend("no-fast", fast: 0), Self.backend("other", models: ["qwen"]),
            Self.backend("ok"),
        ])
        let loads = [BackendLoad(healthy: false), BackendLoad(), BackendLoad(), BackendLoad()]
        #expect(router.candidates(model: "apertus-70b", tier: .fast, loads: loads) == [3])
        #expect(router.candidates(model: "apertus-70b", tier: .medium, loads: loads) == [1, 3])
        #expect(router.candidates(model: "missing", tier: .medium, loads: loads).isEmpty)
        #expect(router.anyServes("qwen") && !router.anyServes("missing"))
        #expect(router.listing(loads: loads) == [1, 2, 3])
    }

    @Test func healthChangesOnlyAfterConsecutiveResults() {
        let board = BackendBoard(backends: [Self.backend("a")], unhealthyAfter: 2, healthyAfter: 3)
        board.failed(0)
        #expect(board.current[0].healthy)
        board.checkPassed(0, queueDepth: nil, gpuPressure: nil)
        board.failed(0)
        #expect(board.current[0].healthy, "a pass in between resets the count")
        board.failed(0)
        #expect(!board.current[0].healthy)
        board.checkPassed(0, queueDepth: 4, gpuPressure: 0.5)
        board.checkPassed(0, queueDepth: nil, gpuPressure: nil)
        #expect(!board.current[0].healthy)
        board.checkPassed(0, queueDepth: nil, gpuPressure: nil)
        #expect(board.current[0].healthy)
        #expect(board.current[0].queueDepth == 4 && board.current[0].gpuPressure == 0.5)
    }

    @Test func workersWithoutAQueueFigureAreLoadedByTheGatewaysOwnRequests() {
        let ollama = BackendSettings(name: "o", url: "http://10.99.0.3:11434", models: ["m"], kind: .ollama)
        let vllm = BackendSettings(name: "v", url: "http://10.99.0.2:8000", models: ["m"], kind: .vllm)
        let board = BackendBoard(backends: [ollama, vllm], unhealthyAfter: 2, healthyAfter: 2)
        board.requestStarted(0)
        board.requestStarted(0)
        board.requestStarted(1)
        #expect(board.current[0].queueDepth == 2 && board.current[1].queueDepth == 0)
        board.requestEnded(0)
        #expect(board.current[0].queueDepth == 1 && board.current[0].inFlight == 1)
    }
}

@Suite struct TierNamesTests {
    @Test func theConfigurationsTierNamesAreTheRegistrysTiers() {
        #expect(BackendSettings.tierNames == Tier.allCases.map(\.rawValue))
    }
}
