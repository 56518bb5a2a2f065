import Foundation
import Gateway

/// A worker's `GET /v1/models` answer as the backend checks read it (``ModelListing``): each
/// entry kept is a JSON object whose `id` is the model it is filed under.
enum ModelListingTarget {
    static let target = FuzzTarget(
        name: "model-listing", summary: "a worker's /v1/models answer, as the backend monitor keeps it", run: run
    )

    static func run(_ data: UnsafeRawBufferPointer) {
        let entries = ModelListing.entries(fromListing: String(decoding: data, as: UTF8.self))
        for (model, entry) in entries {
            let object = (try? JSONSerialization.jsonObject(with: Data(entry.utf8))) as? [String: Any]
            FuzzCheck.require(object?["id"] as? String == model, "a kept listing entry is not the object of its model")
        }
    }
}
