import Foundation
import PopConfig
import Registry

/// `GET /v1/models` as the gateway answers it: the models a request of the caller's tier could be
/// routed to right now (served by a healthy backend that weighs more than 0 for the tier), each
/// described as its worker lists it (`created`, `owned_by`), or minimally when no worker's listing
/// could be read. One answer over all backends, not the listing of whichever worker comes first.
enum ModelListing {
    /// The listing body for `models` (in order), with entries taken from the workers' own listings.
    static func body(models: [String], workerListings: [String]) -> [UInt8] {
        var described: [String: [String: Any]] = [:]
        for text in workerListings {
            guard let listing = (try? JSONSerialization.jsonObject(with: Data(text.utf8))) as? [String: Any] else { continue }
            for case let entry as [String: Any] in listing["data"] as? [Any] ?? [] {
                if let id = entry["id"] as? String, described[id] == nil { described[id] = entry }
            }
        }
        let data = models.map { described[$0] ?? ["id": $0, "object": "model", "created": 0, "owned_by": "popgate"] }
        let object: [String: Any] = ["object": "list", "data": data]
        let json = (try? JSONSerialization.data(withJSONObject: object, options: [.sortedKeys, .withoutEscapingSlashes]))
            ?? Data(#"{"data":[],"object":"list"}"#.utf8)
        return Array(json)
    }

    /// The models `router` would route for `tier` given `loads`, in configuration order.
    static func routable(router: BackendRouter, tier: Tier, loads: [BackendLoad]) -> [String] {
        var seen = Set<String>()
        var models: [String] = []
        for backend in router.backends {
            for model in backend.models where !seen.contains(model) {
                if !router.candidates(model: model, tier: tier, loads: loads).isEmpty {
                    seen.insert(model)
                    models.append(model)
                }
            }
        }
        return models
    }
}
