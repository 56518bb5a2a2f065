import Foundation
@testable import Gateway
import PopConfig
import Registry
import Testing

@Suite struct ModelListingTests {
    @Test func theListingHoldsWhatTheTierCouldUseDescribedAsTheWorkersDescribeIt() throws {
        let router = BackendRouter(backends: [
            BackendSettings(name: "big", url: "http://a", models: ["small", "large"],
                            tierWeights: ["slow": 0, "medium": 1, "fast": 1, "ludicrous": 1]),
            BackendSettings(name: "cheap", url: "http://b", models: ["small"]),
        ])
        let loads = [BackendLoad(), BackendLoad()]
        #expect(ModelListing.routable(router: router, tier: .slow, loads: loads) == ["small"])
        #expect(ModelListing.routable(router: router, tier: .fast, loads: loads) == ["small", "large"])
        #expect(ModelListing.routable(router: router, tier: .fast, loads: [BackendLoad(healthy: false), BackendLoad()])
            == ["small"])

        let worker = #"{"object":"list","data":[{"id":"large","object":"model","created":7,"owned_by":"vllm"}]}"#
        let described = [ModelListing.entries(fromListing: worker), ModelListing.entries(fromListing: "not json")]
        #expect(described[1].isEmpty)
        let body = ModelListing.body(models: ["small", "large"], described: described)
        let object = try #require(try JSONSerialization.jsonObject(with: Data(body)) as? [String: Any])
        let data = try #require(object["data"] as? [[String: Any]])
        #expect(object["object"] as? String == "list")
        #expect(data.map { $0["id"] as? String } == ["small", "large"])
        #expect(data[1]["owned_by"] as? String == "vllm" && data[1]["created"] as? Int == 7)
        #expect(data[0]["owned_by"] as? String == "popgate")
    }
}
