import Addressing
import AsyncHTTPClient
import Foundation
import Logging
import NIOCore
import NIOHTTP1
import PopConfig
import Registry

typealias ResponseWriter = NIOAsyncChannelOutboundWriter<HTTPServerResponsePart>

/// Serves the HTTP/1.1 requests of one authenticated-peer connection, one after another.
struct HTTPConnection {
    let source: IPAddress
    let directory: PeerDirectory
    let router: BackendRouter
    let board: BackendBoard
    let upstream: UpstreamClient
    let tierHeader: String
    let cacheSalt: CacheSalt
    let maxRequestBodyBytes: Int
    let logger: Logger

    /// What to do with the connection after a request.
    enum Next { case keepAlive, close }

    func serve(_ channel: NIOAsyncChannel<HTTPServerRequestPart, HTTPServerResponsePart>) async throws {
        try await channel.executeThenClose { inbound, outbound in
            var parts = inbound.makeAsyncIterator()
            while let part = try await parts.next() {
                guard case .head(let head) = part else { return }  // body without a head: protocol error
                let next = try await handle(head: head, parts: &parts, writer: outbound)
                if next == .close || !head.isKeepAlive { return }
            }
        }
    }

    private func handle(
        head: HTTPRequestHead, parts: inout NIOAsyncChannelInboundStream<HTTPServerRequestPart>.AsyncIterator,
        writer: ResponseWriter
    ) async throws -> Next {
        let requestID = RequestID.make()
        var log = logger
        log[metadataKey: "request.id"] = "\(requestID)"
        let started = ContinuousClock.now

        // The snapshot is read per request, so a peer revoked mid-connection is cut off here.
        let authentication = Authenticator.authenticate(
            source: source, authorization: head.headers.first(name: "Authorization"), snapshot: directory.snapshot
        )
        let identity: RequestIdentity
        switch authentication {
        case .unknownPeer:
            log.info("peer no longer live; closing", metadata: ["peer.address": "\(source)"])
            return .close
        case .invalidKey(let reason):
            guard try await discardBody(&parts) else { return .close }
            try await write(error: .invalidAPIKey(reason), requestID: requestID, keepAlive: head.isKeepAlive, to: writer)
            log.info("request refused", metadata: ["http.status": "401", "peer.address": "\(source)"])
            return .keepAlive
        case .authenticated(let who):
            identity = who
        }
        log[metadataKey: "peer.name"] = "\(identity.peer.name)"
        log[metadataKey: "tenant"] = "\(identity.peer.tenantName)"

        let route: ProxyRoute
        switch ProxyRoute.resolve(method: head.method, uri: head.uri) {
        case .failure(let error):
            guard try await discardBody(&parts) else { return .close }
            try await write(error: error, requestID: requestID, keepAlive: head.isKeepAlive, to: writer)
            return .keepAlive
        case .success(let resolved):
            route = resolved
        }

        guard let body = try await collectBody(&parts) else {
            try await write(error: .bodyTooLarge(limit: maxRequestBodyBytes), requestID: requestID, keepAlive: false, to: writer)
            return .close
        }

        let tier: Tier
        if let requested = head.headers.first(name: tierHeader) {
            guard let parsed = Tier(rawValue: requested.trimmingCharacters(in: .whitespaces).lowercased()) else {
                try await write(
                    error: .unknownTier(requested, header: tierHeader), requestID: requestID, keepAlive: head.isKeepAlive,
                    to: writer
                )
                return .keepAlive
            }
            tier = parsed
        } else {
            tier = identity.defaultTier
        }
        log[metadataKey: "tier"] = "\(tier)"

        let candidates: [Int]
        let path: String
        var model: String?
        switch route {
        case .listModels:
            try await listModels(tier: tier, requestID: requestID, keepAlive: head.isKeepAlive, writer: writer, log: log)
            return .keepAlive
        case .modelRouted(let routedPath):
            switch ProxyRoute.model(in: body) {
            case .failure(let error):
                try await write(error: error, requestID: requestID, keepAlive: head.isKeepAlive, to: writer)
                return .keepAlive
            case .success(let requested):
                guard router.anyServes(requested) else {
                    try await write(
                        error: .modelNotFound(requested), requestID: requestID, keepAlive: head.isKeepAlive, to: writer
                    )
                    return .keepAlive
                }
                log[metadataKey: "model"] = "\(requested)"
                model = requested
                candidates = router.candidates(model: requested, tier: tier, loads: board.current)
                path = routedPath
            }
        }
        guard !candidates.isEmpty else {
            try await write(
                error: .noBackend(model: model ?? "any model", tier: tier.rawValue), requestID: requestID,
                keepAlive: head.isKeepAlive, to: writer
            )
            log.warning("no backend available", metadata: ["http.status": "503"])
            return .keepAlive
        }

        // Best first; a backend that cannot be reached before it answers is skipped for the next.
        var answered: (index: Int, response: HTTPClientResponse)?
        for index in candidates {
            let backend = router.backends[index]
            let sent = model == nil ? nil : WorkerFields.setting(workerFields(for: backend, tier: tier, identity), in: body)
            board.requestStarted(index)
            do {
                let response = try await upstream.send(
                    backend: backend, method: head.method, path: path, clientHeaders: head.headers,
                    body: head.method == .GET ? nil : sent ?? body, requestID: requestID
                )
                answered = (index, response)
                break
            } catch {
                board.requestEnded(index)
                board.failed(index)
                log.warning(
                    "backend failed before answering", metadata: ["backend": "\(backend.name)", "error": "\(error)"]
                )
            }
        }
        guard let (chosen, response) = answered else {
            try await write(
                error: .upstreamUnavailable(router.backends[candidates[0]].name), requestID: requestID,
                keepAlive: head.isKeepAlive, to: writer
            )
            return .keepAlive
        }
        defer { board.requestEnded(chosen) }
        let backend = router.backends[chosen]
        log[metadataKey: "backend"] = "\(backend.name)"
        if backend.priorityScheduling, model != nil { log[metadataKey: "priority"] = "\(tier.vllmPriority)" }

        var headers = HTTPHeaders()
        for name in ["Content-Type", "Cache-Control", "Content-Length"] {
            if let value = response.headers.first(name: name) { headers.add(name: name, value: value) }
        }
        headers.add(name: "X-Request-Id", value: requestID)
        if !head.isKeepAlive { headers.add(name: "Connection", value: "close") }
        try await writer.write(.head(HTTPResponseHead(version: head.version, status: response.status, headers: headers)))
        // Each upstream chunk is written (and flushed) as it arrives: SSE is never coalesced. A
        // failed write (the client went away) ends the connection by throwing.
        var chunks = response.body.makeAsyncIterator()
        while true {
            let chunk: ByteBuffer?
            do {
                chunk = try await chunks.next()
            } catch {
                board.failed(chosen)
                log.warning("backend failed mid-response", metadata: ["error": "\(error)"])
                // The status is already sent. A stream ends with an error event in OpenAI's shape,
                // which the SDKs raise; any other body is cut short by closing the connection.
                if response.headers.first(name: "Content-Type")?.hasPrefix("text/event-stream") == true {
                    try? await writer.write(.body(.byteBuffer(ByteBuffer(bytes: OpenAIError.backendFailedMidStream.event))))
                    try? await writer.write(.end(nil))
                }
                return .close
            }
            guard let chunk else { break }
            try await writer.write(.body(.byteBuffer(chunk)))
        }
        // A client that has read a Content-Length body may close before this (empty) end is
        // written; the request was still served, and must be accounted as such.
        let ended = (try? await writer.write(.end(nil))) != nil
        log.info(
            "request served",
            metadata: [
                "http.status": "\(response.status.code)",
                "duration_ms": "\((ContinuousClock.now - started).wholeMilliseconds)",
            ]
        )
        return ended ? .keepAlive : .close
    }

    /// Answers `GET /v1/models` itself (``ModelListing``), asking each healthy backend for its own
    /// listing at once; a backend that does not answer within a second only loses its descriptions.
    private func listModels(
        tier: Tier, requestID: String, keepAlive: Bool, writer: ResponseWriter, log: Logger
    ) async throws {
        let loads = board.current
        let models = ModelListing.routable(router: router, tier: tier, loads: loads)
        let listings = await withTaskGroup(of: String?.self) { group in
            for index in router.listing(loads: loads) {
                let url = router.backends[index].url + "/v1/models"
                group.addTask {
                    guard let reply = try? await upstream.fetch(url, timeout: .seconds(1)), reply.status == 200 else { return nil }
                    return reply.body
                }
            }
            var all: [String] = []
            for await listing in group { if let listing { all.append(listing) } }
            return all
        }
        try await writeJSON(
            status: .ok, body: ModelListing.body(models: models, workerListings: listings), requestID: requestID,
            keepAlive: keepAlive, to: writer
        )
        log.info("request served", metadata: ["http.status": "200", "models": "\(models.count)"])
    }

    /// The body fields the gateway sets for `backend`: the tier's priority only where the worker
    /// schedules by it, the tenant's cache salt only on vLLM; a client's own values never.
    private func workerFields(
        for backend: BackendSettings, tier: Tier, _ identity: RequestIdentity
    ) -> KeyValuePairs<String, WorkerFields.Value> {
        let priority: WorkerFields.Value = backend.priorityScheduling ? .int(tier.vllmPriority) : .absent
        let salt: WorkerFields.Value =
            backend.kind == .vllm ? .string(cacheSalt.salt(tenantID: identity.peer.tenantID)) : .absent
        return ["priority": priority, "cache_salt": salt]
    }

    /// Reads the request body into memory, up to the limit; nil when it is larger.
    private func collectBody(
        _ parts: inout NIOAsyncChannelInboundStream<HTTPServerRequestPart>.AsyncIterator
    ) async throws -> ByteBuffer? {
        var body = ByteBuffer()
        var tooLarge = false
        while let part = try await parts.next() {
            switch part {
            case .body(var chunk):
                if body.readableBytes + chunk.readableBytes > maxRequestBodyBytes { tooLarge = true }
                if !tooLarge { body.writeBuffer(&chunk) }
            case .end:
                return tooLarge ? nil : body
            case .head:
                return nil
            }
        }
        return tooLarge ? nil : body
    }

    /// Skips the rest of a request body we will not use; false when the stream ended early.
    private func discardBody(
        _ parts: inout NIOAsyncChannelInboundStream<HTTPServerRequestPart>.AsyncIterator
    ) async throws -> Bool {
        var discarded = 0
        while let part = try await parts.next() {
            switch part {
            case .body(let chunk):
                discarded += chunk.readableBytes
                if discarded > maxRequestBodyBytes { return false }
            case .end: return true
            case .head: return false
            }
        }
        return false
    }

    private func write(error: OpenAIError, requestID: String, keepAlive: Bool, to writer: ResponseWriter) async throws {
        try await writeJSON(status: error.status, body: error.body, requestID: requestID, keepAlive: keepAlive, to: writer)
    }

    /// A whole JSON response the gateway makes itself (errors, the model listing).
    private func writeJSON(
        status: HTTPResponseStatus, body bytes: [UInt8], requestID: String, keepAlive: Bool, to writer: ResponseWriter
    ) async throws {
        let body = ByteBuffer(bytes: bytes)
        var headers = HTTPHeaders()
        headers.add(name: "Content-Type", value: "application/json")
        headers.add(name: "Content-Length", value: "\(body.readableBytes)")
        headers.add(name: "X-Request-Id", value: requestID)
        if !keepAlive { headers.add(name: "Connection", value: "close") }
        try await writer.write(.head(HTTPResponseHead(version: .http1_1, status: status, headers: headers)))
        try await writer.write(.body(.byteBuffer(body)))
        // Complete once the body is out (Content-Length): a client gone by the empty end changes nothing.
        try? await writer.write(.end(nil))
    }
}
