import NIOCore
import NIOHTTP1
import PopConfig
import Registry

/// What goes to the worker: a head of the gateway's own making and the client's body with the
/// fields the gateway owns set (``WorkerFields``).
extension ProxyExchange {
    func send(to index: Int) {
        guard let worker else { return }
        let backend = context.router.backends[index]
        let body = WorkerFields.setting(workerFields(for: backend), in: self.body)
        worker.send(
            workerRequestHead(index, bodyLength: body.readableBytes), body: body, to: self,
            idleTimeout: .seconds(Int64(context.settings.upstreamIdleTimeoutSeconds))
        )
    }

    /// Only headers the worker needs are forwarded: never the client's Authorization (that is
    /// the client's secret for the PoP, not for the worker).
    func workerRequestHead(_ index: Int, bodyLength: Int) -> HTTPRequestHead {
        var headers = HTTPHeaders()
        headers.add(name: "Host", value: context.workers.endpoints[index].hostHeader)
        for name in ["Content-Type", "Accept"] {
            if let value = head.headers.first(name: name) { headers.add(name: name, value: value) }
        }
        headers.add(name: "X-Request-Id", value: requestID)
        headers.add(name: "Content-Length", value: "\(bodyLength)")
        return HTTPRequestHead(version: .http1_1, method: head.method, uri: path, headers: headers)
    }

    /// The body fields the gateway sets for `backend`: the tier's priority only where the worker
    /// schedules by it, the tenant's cache salt only on vLLM, the stream's usage everywhere (and
    /// vLLM's continuous usage or llama.cpp's timings per token, so a stream cut short still has
    /// its worker's count); a client's own priority and salt never.
    func workerFields(for backend: BackendSettings) -> [(name: String, value: WorkerFields.Value)] {
        var fields: [(name: String, value: WorkerFields.Value)] = [
            ("priority", backend.priorityScheduling ? .int(tier.vllmPriority) : .absent),
            ("cache_salt", backend.kind.takesCacheSalt ? .string(context.cacheSalt.salt(tenantID: identity.peer.tenantID)) : .absent),
        ]
        if let options = body.streamOptions(path: path, continuousUsage: backend.kind.streamsContinuousUsage) {
            fields.append(("stream_options", options))
        }
        if let timings = body.timingsPerToken(path: path, takesTimings: backend.kind.streamsTimingsPerToken) {
            fields.append(("timings_per_token", timings))
        }
        return fields
    }
}
