import AsyncHTTPClient
import Logging
import NIOCore
import NIOHTTP1
import PopConfig
import Registry

/// One model-routed request proxied to a worker: the candidates tried in order until one
/// answers, the answer streamed back piece by piece, and the tokens it used read on the way.
struct ProxyExchange {
    let context: GatewayContext
    let identity: RequestIdentity
    let tier: Tier
    let path: String
    let head: HTTPRequestHead
    let body: RequestBody
    let requestID: String

    /// How the exchange ended.
    struct Outcome {
        var status: UInt
        var backend: String?
        var usage: TokenUsage?
        /// From the start of the exchange to the first body byte sent on to the client (a
        /// stream's first token); nil when the worker sent no body.
        var timeToFirstByte: Duration?
        var next: HTTPConnection.Next
    }

    func run(candidates: [Int], writer: ResponseWriter, log: inout Logger) async throws -> Outcome {
        let started = ContinuousClock.now
        let usageOptions = body.streamOptionsWithUsage(path: path)

        // Best first; a backend that cannot be reached before it answers is skipped for the next.
        var answered: (index: Int, response: HTTPClientResponse)?
        for index in candidates {
            let backend = context.router.backends[index]
            context.board.requestStarted(index)
            do {
                let response = try await context.upstream.send(
                    backend: backend, method: head.method, path: path, clientHeaders: head.headers,
                    body: WorkerFields.setting(workerFields(for: backend, streamOptions: usageOptions), in: body),
                    requestID: requestID
                )
                answered = (index, response)
                break
            } catch {
                context.board.requestEnded(index)
                context.board.failed(index)
                log.warning("backend failed before answering", metadata: ["backend": "\(backend.name)", "error": "\(error)"])
            }
        }
        guard let (chosen, response) = answered else {
            let error = OpenAIError.upstreamUnavailable(context.router.backends[candidates[0]].name)
            try await HTTPConnection.write(error: error, requestID: requestID, keepAlive: head.isKeepAlive, to: writer)
            return Outcome(status: error.status.code, backend: nil, usage: nil, timeToFirstByte: nil, next: .keepAlive)
        }
        defer { context.board.requestEnded(chosen) }
        let backend = context.router.backends[chosen]
        log[metadataKey: "backend"] = "\(backend.name)"
        if backend.priorityScheduling { log[metadataKey: "priority"] = "\(tier.vllmPriority)" }

        var headers = HTTPHeaders()
        for name in ["Content-Type", "Cache-Control", "Content-Length"] {
            if let value = response.headers.first(name: name) { headers.add(name: name, value: value) }
        }
        headers.add(name: "X-Request-Id", value: requestID)
        if !head.isKeepAlive { headers.add(name: "Connection", value: "close") }
        try await writer.write(.head(HTTPResponseHead(version: head.version, status: response.status, headers: headers)))
        var outcome = Outcome(
            status: response.status.code, backend: backend.name, usage: nil, timeToFirstByte: nil, next: .keepAlive
        )

        let isEventStream = response.headers.first(name: "Content-Type")?.hasPrefix("text/event-stream") == true
        var events = isEventStream ? UsageStreamFilter(removesUsageChunk: usageOptions != nil) : nil
        var tail: UsageTail? = isEventStream ? nil : UsageTail()
        var firstBodyByte = true
        // Each upstream chunk is written (and flushed) as it arrives: SSE is never coalesced. A
        // failed write (the client went away) ends the connection by throwing.
        var chunks = response.body.makeAsyncIterator()
        while true {
            let chunk: ByteBuffer?
            do {
                chunk = try await chunks.next()
            } catch {
                context.board.failed(chosen)
                log.warning("backend failed mid-response", metadata: ["error": "\(error)"])
                // The status is already sent. A stream ends with an error event in OpenAI's shape,
                // which the SDKs raise; any other body is cut short by closing the connection.
                if isEventStream {
                    try? await writer.write(.body(.byteBuffer(ByteBuffer(bytes: OpenAIError.backendFailedMidStream.event))))
                    try? await writer.write(.end(nil))
                }
                outcome.status = OpenAIError.backendFailedMidStream.status.code
                outcome.usage = events?.usage
                outcome.next = .close
                return outcome
            }
            guard var chunk else { break }
            if events != nil { chunk = events!.pass(chunk) }
            tail?.append(chunk)
            guard chunk.readableBytes > 0 else { continue }
            if firstBodyByte {
                outcome.timeToFirstByte = ContinuousClock.now - started
                firstBodyByte = false
            }
            try await writer.write(.body(.byteBuffer(chunk)))
        }
        if events != nil {
            let rest = events!.finish()
            if rest.readableBytes > 0 { try await writer.write(.body(.byteBuffer(rest))) }
            outcome.usage = events!.usage
        } else if let tail {
            outcome.usage = tail.usage
        }
        // A client that has read a Content-Length body may close before this (empty) end is
        // written; the request was still served, and must be accounted as such.
        let ended = (try? await writer.write(.end(nil))) != nil
        outcome.next = ended ? .keepAlive : .close
        return outcome
    }

    /// The body fields the gateway sets for `backend`: the tier's priority only where the worker
    /// schedules by it, the tenant's cache salt only on vLLM, the stream's usage everywhere; a
    /// client's own priority and salt never.
    private func workerFields(
        for backend: BackendSettings, streamOptions: WorkerFields.Value?
    ) -> [(name: String, value: WorkerFields.Value)] {
        var fields: [(name: String, value: WorkerFields.Value)] = [
            ("priority", backend.priorityScheduling ? .int(tier.vllmPriority) : .absent),
            ("cache_salt", backend.kind == .vllm ? .string(context.cacheSalt.salt(tenantID: identity.peer.tenantID)) : .absent),
        ]
        if let streamOptions { fields.append(("stream_options", streamOptions)) }
        return fields
    }
}
