import Foundation
import Gateway
import NIOCore

/// A client's request body as the gateway reads it (``RequestBody``) and rewrites it for a worker
/// (``WorkerFields``): whatever the client wrote, the worker's JSON decoder must read the
/// gateway's own `priority` and `cache_salt`, and the model the gateway routed by.
enum RequestBodyTarget {
    static let target = FuzzTarget(
        name: "request-body", summary: "request body scan and the worker-field rewrite (priority, cache_salt)", run: run
    )

    static let salt = "fuzz-salt"
    static let priority = 7

    static func run(_ data: UnsafeRawBufferPointer) {
        guard case .success(let body) = RequestBody.parse(ByteBuffer(bytes: data)) else { return }
        // Foundation stands in for the worker's decoder only where it reads the client's text at all: it
        // refuses some JSON that Python's json module (vLLM's) takes, such as an unpaired surrogate escape.
        guard (try? JSONSerialization.jsonObject(with: Data(data))) is [String: Any] else { return }
        var fields: [(name: String, value: WorkerFields.Value)] = [
            ("priority", .int(priority)), ("cache_salt", .string(salt)),
        ]
        if let options = body.streamOptions(path: "/v1/chat/completions", continuousUsage: true) { fields.append(("stream_options", options)) }
        let edited = WorkerFields.setting(fields, in: body)
        // What a worker decodes. Foundation keeps the last of two same-named members, as Python does.
        guard let object = (try? JSONSerialization.jsonObject(with: Data(edited.readableBytesView))) as? [String: Any] else {
            return FuzzCheck.require(false, "a body the gateway accepted reaches the worker as no JSON object")
        }
        FuzzCheck.require(object["priority"] as? Int == priority, "the worker reads a priority the gateway did not set")
        FuzzCheck.require(object["cache_salt"] as? String == salt, "the worker reads a cache_salt the gateway did not set")
        FuzzCheck.require(object["model"] as? String == body.model, "the worker reads another model than the gateway routed")
        if body.isStream {
            let options = object["stream_options"] as? [String: Any]
            FuzzCheck.require(options?["include_usage"] as? Bool == true, "a stream reaches the worker without include_usage")
        }
    }
}
