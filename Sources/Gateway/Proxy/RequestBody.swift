import Foundation
import NIOCore
import NIOHTTP1

/// A model-routed request's JSON body, read once: the router needs its model, the stream
/// handling its `stream` flags, and ``WorkerFields`` whether it carries any field the gateway
/// owns. Nothing of it is kept after the request.
///
/// Most bodies are read by one strict scan (``JSONObjectScan``) that builds nothing. A body that
/// carries a field the gateway owns (``gatewayFields``) or writes a member
/// name or the model with escapes is decoded in full instead
/// (`members`), so that what the gateway reads and edits is what the worker's JSON decoder will
/// see.
package struct RequestBody {
    package let bytes: ByteBuffer
    package let model: String
    package let isStream: Bool
    /// Whether the client itself asked for the stream's usage chunk.
    let clientAsksForUsage: Bool
    /// Whether the client itself asked for vLLM's usage in every chunk (`continuous_usage_stats`).
    var clientAsksForContinuousUsage = false
    /// Whether the client itself asked for llama.cpp's counts in every chunk (`timings_per_token`).
    var clientAsksForTimings = false
    /// The most completion tokens the request allows (`max_tokens`, `max_completion_tokens` or the
    /// Responses API's `max_output_tokens`, the largest if several), when it names one: what the
    /// key's token allowance holds back while the request runs.
    var maxTokens: Int?
    /// The whole object, for a body of the unusual kind above; nil when the scan sufficed, which
    /// means the text has none of the gateway's fields.
    let members: [String: Any]?
    /// Whether the object has no members at all.
    let isEmptyObject: Bool

    static let notAnObject = OpenAIError.invalidBody("The request body is not a JSON object. Send Content-Type: application/json.")
    static let missingModel = OpenAIError(
        status: .badRequest, message: "You must provide a model parameter.", code: "missing_model", param: "model"
    )

    static func repeated(_ name: String) -> OpenAIError {
        OpenAIError(
            status: .badRequest, message: "'\(name)' appears more than once in the request body; send it once.",
            code: "duplicate_member", param: name
        )
    }

    static let streamNotBoolean = OpenAIError(
        status: .badRequest, message: "'stream' must be true or false.", code: "invalid_type", param: "stream"
    )

    /// Reads `bytes`, or says what is wrong with it in OpenAI's words.
    package static func parse(_ bytes: ByteBuffer) -> Result<RequestBody, OpenAIError> {
        bytes.withUnsafeReadableBytes { text in
            guard let scan = JSONObjectScan(text) else { return .failure(notAnObject) }
            // Decoders differ on which of two same-named members counts (Python's keeps the last):
            // the two the gateway acts on may appear once, so there is only one reading of them.
            for name in ["model", "stream"] where scan.members.count(where: { isNamed($0, name, in: text) }) > 1 {
                return .failure(repeated(name))
            }
            // Python workers read 1 or "yes" as true: only JSON's own values are let through, so a
            // request the worker streams is always one the gateway counts as a stream (and asks for
            // its usage).
            let stream = scan.members.first { isNamed($0, "stream", in: text) }
            if let stream, ![.true, .false, .null].contains(stream.kind) { return .failure(streamNotBoolean) }
            let isStream = stream?.kind == .true
            return scanned(scan, text, bytes, isStream: isStream) ?? decoded(bytes, isStream: isStream)
        }
    }

    /// Whether `member`'s name is `name` once its escapes are decoded.
    private static func isNamed(_ member: JSONObjectScan.Member, _ name: String, in text: UnsafeRawBufferPointer) -> Bool {
        let raw = text[member.name]
        guard raw.contains(UInt8(ascii: "\\")) else { return raw.elementsEqual(name.utf8) }
        let quoted = Data([UInt8(ascii: "\"")] + raw + [UInt8(ascii: "\"")])
        return (try? JSONSerialization.jsonObject(with: quoted, options: .fragmentsAllowed)) as? String == name
    }

    /// The body from the scan alone, or nil when it must be decoded in full.
    private static func scanned(
        _ scan: JSONObjectScan, _ text: UnsafeRawBufferPointer, _ bytes: ByteBuffer, isStream: Bool
    ) -> Result<RequestBody, OpenAIError>? {
        var model: JSONObjectScan.Member?
        var maxTokens: Int?
        for member in scan.members {
            let name = text[member.name]
            if name.contains(UInt8(ascii: "\\")) { return nil }
            if name.elementsEqual("model".utf8) {
                model = member
            } else if member.kind == .number, maxTokenNames.contains(where: { name.elementsEqual($0.utf8) }) {
                let value = Int(String(decoding: text[member.value], as: UTF8.self)).map(clampedTokens)
                maxTokens = max(maxTokens ?? 0, value ?? 0)
            } else if gatewayFields.contains(where: { name.elementsEqual($0.utf8) }) {
                return nil
            }
        }
        guard let model, model.kind == .string, model.value.count > 2 else { return .failure(missingModel) }
        let name = text[(model.value.lowerBound + 1)..<(model.value.upperBound - 1)]
        if name.contains(UInt8(ascii: "\\")) { return nil }
        var body = RequestBody(
            bytes: bytes, model: String(decoding: name, as: UTF8.self), isStream: isStream,
            clientAsksForUsage: false, members: nil, isEmptyObject: scan.members.isEmpty
        )
        body.maxTokens = maxTokens
        return .success(body)
    }

    /// The body decoded in full by Foundation.
    private static func decoded(_ bytes: ByteBuffer, isStream: Bool) -> Result<RequestBody, OpenAIError> {
        guard let object = try? JSONSerialization.jsonObject(with: Data(bytes.readableBytesView)),
              let members = object as? [String: Any]
        else { return .failure(notAnObject) }
        guard let model = members["model"] as? String, !model.isEmpty else { return .failure(missingModel) }
        let options = members["stream_options"] as? [String: Any]
        var body = RequestBody(
            bytes: bytes, model: model, isStream: isStream, clientAsksForUsage: options?["include_usage"] as? Bool == true,
            members: members, isEmptyObject: members.isEmpty
        )
        body.clientAsksForContinuousUsage = options?["continuous_usage_stats"] as? Bool == true
        body.clientAsksForTimings = members["timings_per_token"] as? Bool == true
        let limits = maxTokenNames.compactMap { members[$0] as? Int }.map(clampedTokens)
        body.maxTokens = limits.max()
        return .success(body)
    }

    /// The members that bound a request's completion tokens.
    static let maxTokenNames = ["max_tokens", "max_completion_tokens", "max_output_tokens"]

    /// A client's bound as a count: never negative (the worker refuses those), never past what a
    /// receipt holds.
    private static func clampedTokens(_ value: Int) -> Int { min(max(value, 0), Int(UInt32.max)) }

    /// The top-level fields ``WorkerFields`` sets or removes.
    static let gatewayFields = ["priority", "cache_salt", "stream_options", "timings_per_token"]

    /// `stream_options` as the gateway sends it: `include_usage` on, so every stream reports its
    /// usage, and with `continuousUsage` (vLLM) `continuous_usage_stats` on too, so a stream cut
    /// short still has its worker's count; whatever else the client put there is kept. Nil when the
    /// request is not a stream of an endpoint that takes it, or asks for all of it already.
    package func streamOptions(path: String, continuousUsage: Bool) -> WorkerFields.Value? {
        guard isStream, RequestBody.usageOptionPaths.contains(path) else { return nil }
        let needsUsage = !clientAsksForUsage
        let needsContinuous = continuousUsage && !clientAsksForContinuousUsage
        guard needsUsage || needsContinuous else { return nil }
        var options = members?["stream_options"] as? [String: Any] ?? [:]
        options["include_usage"] = true
        if continuousUsage { options["continuous_usage_stats"] = true }
        guard let data = try? JSONSerialization.data(withJSONObject: options, options: [.sortedKeys]) else { return nil }
        return .json(String(decoding: data, as: UTF8.self))
    }

    /// `timings_per_token` as the gateway sends it to a worker that takes it (llama.cpp): on for a
    /// stream, so every chunk carries the counts so far and a stream cut short still has its
    /// worker's count of the prompt. Nil when the request is not such a stream or asks for it itself.
    package func timingsPerToken(path: String, takesTimings: Bool) -> WorkerFields.Value? {
        guard takesTimings, isStream, RequestBody.usageOptionPaths.contains(path), !clientAsksForTimings else { return nil }
        return .bool(true)
    }

    /// What the stream filter removes from the worker's stream because the gateway, not the client,
    /// asked for it (``streamOptions(path:continuousUsage:)``, ``timingsPerToken(path:takesTimings:)``).
    func streamFilterOptions(path: String, continuousUsage: Bool, takesTimings: Bool = false) -> StreamFilterOptions {
        guard isStream, RequestBody.usageOptionPaths.contains(path) else { return StreamFilterOptions() }
        return StreamFilterOptions(
            removesUsageChunk: !clientAsksForUsage,
            // vLLM sends usage in every chunk only with include_usage too.
            removesChunkUsage: continuousUsage && !(clientAsksForUsage && clientAsksForContinuousUsage),
            removesChunkTimings: takesTimings && !clientAsksForTimings
        )
    }

    /// The endpoints whose streams report usage only when asked (the Responses API always does).
    static let usageOptionPaths: Set<String> = ["/v1/chat/completions", "/v1/completions"]
}
