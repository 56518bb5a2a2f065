import Foundation
import PopConfig
import Testing

@Suite struct BackendSettingsTests {
    static let twoBackends = """
        [wireguard]
        address = "10.77.0.1/24"
        endpoint = "198.51.100.1:51820"

        [gateway]
        tier_header = "X-Tier"

        [[backends]]
        name = "blackwell"
        url = "http://10.99.0.2:8000"
        models = ["apertus-70b"]
        tier_weights = { medium = 1, fast = 5, ludicrous = 10 }
        priority_scheduling = true

        [[backends]]
        name = "mac-mini"
        url = "http://10.99.0.3:11434"
        models = ["apertus-70b"]
        kind = "ollama"
        """

    @Test func kindWeightsAndPriorityAreRead() throws {
        let config = try PopConfiguration.parse(Self.twoBackends)
        #expect(config.gateway.tierHeader == "X-Tier")
        let blackwell = config.backends[0]
        #expect(blackwell.kind == .vllm && blackwell.priorityScheduling)
        // Tiers left out of tier_weights weigh 0: that backend does not serve them.
        #expect(blackwell.tierWeights == ["slow": 0, "medium": 1, "fast": 5, "ludicrous": 10])
        let mini = config.backends[1]
        #expect(mini.kind == .ollama && !mini.priorityScheduling)
        #expect(mini.tierWeights == ["slow": 1, "medium": 1, "fast": 1, "ludicrous": 1])
    }

    static let broken: [(String, String, String, String)] = [
        ("kind = \"ollama\"", "kind = \"tgi\"", "backends[1].kind", "not one of"),
        ("tier_weights = { medium = 1, fast = 5, ludicrous = 10 }", "tier_weights = { turbo = 1 }",
         "backends[0].tier_weights", "not a tier"),
        ("tier_weights = { medium = 1, fast = 5, ludicrous = 10 }", "tier_weights = { fast = -1 }",
         "backends[0].tier_weights", "from 0 to"),
        ("tier_weights = { medium = 1, fast = 5, ludicrous = 10 }", "tier_weights = { fast = 0 }",
         "backends[0].tier_weights", "no request would ever reach"),
        ("kind = \"ollama\"", "kind = \"ollama\"\npriority_scheduling = true", "backends[1].priority_scheduling",
         "only vLLM"),
        ("tier_header = \"X-Tier\"", "tier_header = \"X Tier\"", "gateway.tier_header", "not an HTTP header name"),
    ]

    @Test(arguments: broken)
    func errorsNameTheKey(_ case_: (String, String, String, String)) {
        let text = Self.twoBackends.replacingOccurrences(of: case_.0, with: case_.1)
        #expect(text != Self.twoBackends)
        do {
            _ = try PopConfiguration.parse(text)
            Issue.record("expected an error for \(case_.1)")
        } catch {
            #expect(error.key == case_.2, "\(error)")
            #expect(error.message.contains(case_.3), "\(error)")
        }
    }
}
