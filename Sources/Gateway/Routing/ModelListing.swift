import Foundation
import PopConfig
import Registry

/// `GET /v1/models` as the gateway answers it: the models a request of the caller's tier could be
/// routed to right now (served by a healthy backend that weighs more than 0 for the tier), each
/// described as its worker lists it (`created`, `owned_by`), or minimally when no worker's listing
/// could be read. One answer over all backends, not the listing of whichever worker comes first.
package enum ModelListing {
    /// A worker's own listing (`GET /v1/models`) as model id → that model's entry, re-encoded as
    /// JSON text; empty when the listing is not OpenAI's shape. Read by ``BackendMonitor`` with
    /// each check, so answering a listing costs the gateway no request to any worker.
    package static func entries(fromListing text: String) -> [String: String] {
        guard let listing = (try? JSONSerialization.jsonObject(with: Data(text.utf8))) as? [String: Any] else { return [:] }
        var entries: [String: String] = [:]
        for case let entry as [String: Any] in listing["data"] as? [Any] ?? [] {
            guard let id = entry["id"] as? String, entries[id] == nil,
                  let json = try? JSONSerialization.data(withJSONObject: entry, options: [.sortedKeys, .withoutEscapingSlashes])
            else { continue }
            entries[id] = String(decoding: json, as: UTF8.self)
        }
        return entries
    }

    /// The listing body for `models` (in order), each described by the first of `described` (the
    /// healthy workers' entries, in configuration order) that lists it, else minimally.
    static func body(models: [String], described: [[String: String]]) -> [UInt8] {
        let data = models.map { model in
            described.lazy.compactMap { $0[model] }.first
                ?? #"{"created":0,"id":\#(JSONText.string(model)),"object":"model","owned_by":"popgate"}"#
        }
        return Array(#"{"data":[\#(data.joined(separator: ","))],"object":"list"}"#.utf8)
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
