import Foundation
import NIOCore
import NIOHTTP1

/// A model-routed request's JSON body, parsed once: the router needs its model, the stream
/// handling its `stream` flags, and ``WorkerFields`` its members. Nothing of it is kept after
/// the request.
struct RequestBody {
    let bytes: ByteBuffer
    let members: [String: Any]
    let model: String

    /// Parses `bytes`, or says what is wrong with it in OpenAI's words.
    static func parse(_ bytes: ByteBuffer) -> Result<RequestBody, OpenAIError> {
        guard let object = try? JSONSerialization.jsonObject(with: Data(bytes.readableBytesView)),
              let members = object as? [String: Any]
        else {
            return .failure(.invalidBody("The request body is not a JSON object. Send Content-Type: application/json."))
        }
        guard let model = members["model"] as? String, !model.isEmpty else {
            return .failure(
                OpenAIError(status: .badRequest, message: "You must provide a model parameter.", code: "missing_model", param: "model")
            )
        }
        return .success(RequestBody(bytes: bytes, members: members, model: model))
    }

    /// Whether the client asked for a stream of server-sent events.
    var isStream: Bool { members["stream"] as? Bool == true }

    /// Whether the client itself asked for the stream's usage chunk.
    var clientAsksForUsage: Bool {
        ((members["stream_options"] as? [String: Any])?["include_usage"] as? Bool) == true
    }

    /// `stream_options` with `include_usage` on, keeping whatever else the client put there; nil
    /// when it is on already or the request is not a stream of an endpoint that takes it.
    func streamOptionsWithUsage(path: String) -> WorkerFields.Value? {
        guard isStream, !clientAsksForUsage, RequestBody.usageOptionPaths.contains(path) else { return nil }
        var options = members["stream_options"] as? [String: Any] ?? [:]
        options["include_usage"] = true
        guard let data = try? JSONSerialization.data(withJSONObject: options, options: [.sortedKeys]) else { return nil }
        return .json(String(decoding: data, as: UTF8.self))
    }

    /// The endpoints whose streams report usage only when asked (the Responses API always does).
    static let usageOptionPaths: Set<String> = ["/v1/chat/completions", "/v1/completions"]
}
