import Foundation

/// The GPU pressure of a worker that publishes no KV-cache gauge but serves a fixed number of
/// slots (llama.cpp): the share of its slots that are busy, so that of two such workers with
/// empty queues the router prefers the one with free slots, as it prefers the one with the emptier
/// KV cache among vLLM workers.
package enum BusySlots {
    /// `processing` requests over the `total_slots` of the worker's `/props` JSON, at most 1; nil
    /// when either is missing (the board then keeps the last known pressure).
    package static func share(processing: Double?, props: String?) -> Double? {
        guard let processing, let props,
              let object = (try? JSONSerialization.jsonObject(with: Data(props.utf8))) as? [String: Any],
              let slots = object["total_slots"] as? Int, slots > 0
        else { return nil }
        return min(max(processing, 0) / Double(slots), 1)
    }
}
