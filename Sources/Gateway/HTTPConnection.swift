import Addressing
import Foundation
import Logging
import NIOCore
import NIOHTTP1
import PopConfig
import Registry

typealias ResponseWriter = NIOAsyncChannelOutboundWriter<HTTPServerResponsePart>
typealias RequestParts = NIOAsyncChannelInboundStream<HTTPServerRequestPart>.AsyncIterator

/// Serves the HTTP/1.1 requests of one authenticated-peer connection, one after another:
/// authentication, limits, routing, and the proxied exchange (``ProxyExchange``).
struct HTTPConnection {
    let source: IPAddress
    let context: GatewayContext

    /// What to do with the connection after a request.
    enum Next {
        case keepAlive, close
        /// Answer nothing more: send FIN, drain what the client still sends, then close
        /// (``SilentCloseHandler``), so unread bytes never make the kernel reset the connection
        /// and destroy a response the client has not read yet.
        case silence
    }

    func serve(_ channel: NIOAsyncChannel<HTTPServerRequestPart, HTTPServerResponsePart>) async throws {
        try await channel.executeThenClose { inbound, outbound in
            var parts = inbound.makeAsyncIterator()
            while let part = try await parts.next() {
                guard case .head(let head) = part else { return }  // body without a head: protocol error
                let next = try await handle(head: head, parts: &parts, writer: outbound)
                if next == .silence {
                    try await channel.channel.pipeline.addHandler(SilentCloseHandler(), position: .first).get()
                    try? await channel.channel.closeFuture.get()
                    return
                }
                if next == .close || !head.isKeepAlive { return }
            }
        }
    }

    private func handle(head: HTTPRequestHead, parts: inout RequestParts, writer: ResponseWriter) async throws -> Next {
        let requestID = RequestID.make()
        var log = context.logger
        log[metadataKey: "request.id"] = "\(requestID)"
        let started = ContinuousClock.now
        let keepAlive = head.isKeepAlive

        let endpoint = ProxyRoute.path(of: head.uri)
        var tenantLabel = "unknown"
        var tierLabel = "unknown"
        /// Counts the answer in the metrics.
        func record(status: UInt, backend: String? = nil, timeToFirstByte: Duration? = nil) {
            context.metrics.requestFinished(
                tenant: tenantLabel, tier: tierLabel, backend: backend, endpoint: endpoint,
                status: Int(status), duration: ContinuousClock.now - started, timeToFirstByte: timeToFirstByte
            )
        }

        // The snapshot is read per request, so a peer revoked mid-connection is cut off here.
        let authentication = Authenticator.authenticate(
            source: source, authorization: head.headers.first(name: "Authorization"), snapshot: context.directory.snapshot
        )
        let identity: RequestIdentity
        switch authentication {
        case .unknownPeer:
            log.info("peer no longer live; closing", metadata: ["peer.address": "\(source)"])
            return .close
        case .invalidKey(let reason):
            if context.settings.silentCloseOnAuthFailure {
                log.info("request refused silently", metadata: ["peer.address": "\(source)", "reason": "api key"])
                context.metrics.silentClose(.authFailure)
                return .silence
            }
            guard try await discardBody(&parts) else { return .close }
            try await Self.write(error: .invalidAPIKey(reason), requestID: requestID, keepAlive: keepAlive, to: writer)
            log.info("request refused", metadata: ["http.status": "401", "peer.address": "\(source)"])
            tenantLabel = context.directory.livePeer(at: source)?.tenantName ?? "unknown"
            record(status: 401)
            return .keepAlive
        case .authenticated(let who):
            identity = who
        }
        log[metadataKey: "peer.name"] = "\(identity.peer.name)"
        log[metadataKey: "tenant"] = "\(identity.peer.tenantName)"

        tenantLabel = identity.peer.tenantName
        var bodyRead = false
        /// Answers an error once the request's body is read past, and logs and counts it.
        func refuse(_ error: OpenAIError, extraHeaders: HTTPHeaders = [:]) async throws -> Next {
            if !bodyRead { guard try await discardBody(&parts) else { return .close } }
            try await Self.write(error: error, requestID: requestID, keepAlive: keepAlive, to: writer, extraHeaders: extraHeaders)
            log.info("request refused", metadata: ["http.status": "\(error.status.code)", "error.code": "\(error.code ?? "")"])
            record(status: error.status.code)
            return .keepAlive
        }

        let route: ProxyRoute
        switch ProxyRoute.resolve(method: head.method, uri: head.uri) {
        case .failure(let error): return try await refuse(error)
        case .success(let resolved): route = resolved
        }

        let tier: Tier
        if let requested = head.headers.first(name: context.settings.tierHeader) {
            guard let parsed = Tier(rawValue: requested.trimmingCharacters(in: .whitespaces).lowercased()) else {
                return try await refuse(.unknownTier(requested, header: context.settings.tierHeader))
            }
            tier = parsed
        } else {
            tier = identity.defaultTier
        }
        log[metadataKey: "tier"] = "\(tier)"
        tierLabel = tier.rawValue

        if let refusal = context.limiter.admit(apiKey: identity.keyID, tier: tier) {
            context.metrics.rateLimited(tenant: identity.peer.tenantName, tier: tierLabel, limit: refusal.limit)
            return try await refuse(.rateLimited(refusal, tier: tier), extraHeaders: refusal.headers)
        }
        let peerKey = identity.peer.id
        guard context.streams.acquire(peer: peerKey) else {
            let refusal = RateLimitRefusal(limit: .streams, allowance: context.streams.limit, retryAfterSeconds: 1)
            context.metrics.rateLimited(tenant: identity.peer.tenantName, tier: tierLabel, limit: .streams)
            return try await refuse(.rateLimited(refusal, tier: tier), extraHeaders: refusal.headers)
        }
        defer { context.streams.release(peer: peerKey) }

        guard let bytes = try await collectBody(&parts) else {
            try await Self.write(
                error: .bodyTooLarge(limit: context.settings.maxRequestBodyBytes), requestID: requestID, keepAlive: false,
                to: writer
            )
            record(status: HTTPResponseStatus.payloadTooLarge.code)
            return .silence
        }
        bodyRead = true

        let path: String
        switch route {
        case .listModels:
            try await listModels(tier: tier, requestID: requestID, keepAlive: keepAlive, writer: writer, log: log)
            record(status: 200)
            return .keepAlive
        case .modelRouted(let routedPath):
            path = routedPath
        }
        let body: RequestBody
        switch RequestBody.parse(bytes) {
        case .failure(let error): return try await refuse(error)
        case .success(let parsed): body = parsed
        }
        guard context.router.anyServes(body.model) else { return try await refuse(.modelNotFound(body.model)) }
        log[metadataKey: "model"] = "\(body.model)"
        let candidates = context.router.candidates(model: body.model, tier: tier, loads: context.board.current)
        guard !candidates.isEmpty else {
            log.warning("no backend available")
            return try await refuse(.noBackend(model: body.model, tier: tier.rawValue))
        }

        let exchange = ProxyExchange(
            context: context, identity: identity, tier: tier, path: path, head: head, body: body, requestID: requestID
        )
        if body.isStream { context.metrics.streamStarted() }
        defer { if body.isStream { context.metrics.streamEnded() } }
        let outcome: ProxyExchange.Outcome
        do {
            outcome = try await exchange.run(candidates: candidates, writer: writer, log: &log)
        } catch {
            // The client went away mid-response: counted as NGINX does, 499 "client closed request".
            record(status: 499)
            throw error
        }
        record(status: outcome.status, backend: outcome.backend, timeToFirstByte: outcome.timeToFirstByte)
        if let usage = outcome.usage {
            context.limiter.charge(apiKey: identity.keyID, tier: tier, tokens: usage.total)
            context.metrics.tokensCounted(
                tenant: identity.peer.tenantName, tier: tierLabel, prompt: usage.prompt, completion: usage.completion
            )
        }
        log.info(
            "request served",
            metadata: [
                "http.status": "\(outcome.status)",
                "duration_ms": "\((ContinuousClock.now - started).wholeMilliseconds)",
                "tokens.prompt": "\(outcome.usage.map { "\($0.prompt)" } ?? "unknown")",
                "tokens.completion": "\(outcome.usage.map { "\($0.completion)" } ?? "unknown")",
            ]
        )
        return outcome.next
    }

    /// Answers `GET /v1/models` itself (``ModelListing``), from what the backend checks last read:
    /// no worker is asked while the client waits.
    private func listModels(
        tier: Tier, requestID: String, keepAlive: Bool, writer: ResponseWriter, log: Logger
    ) async throws {
        let loads = context.board.current
        let models = ModelListing.routable(router: context.router, tier: tier, loads: loads)
        let entries = context.board.modelEntries
        let described = context.router.listing(loads: loads).map { entries[$0] }
        try await Self.writeJSON(
            status: .ok, body: ModelListing.body(models: models, described: described), requestID: requestID,
            keepAlive: keepAlive, to: writer
        )
        log.info("request served", metadata: ["http.status": "200", "models": "\(models.count)"])
    }

    /// Reads the request body into memory, up to the limit; nil as soon as it is larger (the
    /// rest is not waited for: a body may never end).
    private func collectBody(_ parts: inout RequestParts) async throws -> ByteBuffer? {
        let limit = context.settings.maxRequestBodyBytes
        var body = ByteBuffer()
        while let part = try await parts.next() {
            switch part {
            case .body(var chunk):
                guard body.readableBytes + chunk.readableBytes <= limit else { return nil }
                body.writeBuffer(&chunk)
            case .end:
                return body
            case .head:
                return nil
            }
        }
        return nil
    }

    /// Skips the rest of a request body we will not use; false when the stream ended early.
    private func discardBody(_ parts: inout RequestParts) async throws -> Bool {
        var discarded = 0
        while let part = try await parts.next() {
            switch part {
            case .body(let chunk):
                discarded += chunk.readableBytes
                if discarded > context.settings.maxRequestBodyBytes { return false }
            case .end: return true
            case .head: return false
            }
        }
        return false
    }

    static func write(
        error: OpenAIError, requestID: String, keepAlive: Bool, to writer: ResponseWriter, extraHeaders: HTTPHeaders = [:]
    ) async throws {
        try await writeJSON(
            status: error.status, body: error.body, requestID: requestID, keepAlive: keepAlive, to: writer,
            extraHeaders: extraHeaders
        )
    }

    /// A whole JSON response the gateway makes itself (errors, the model listing).
    static func writeJSON(
        status: HTTPResponseStatus, body bytes: [UInt8], requestID: String, keepAlive: Bool, to writer: ResponseWriter,
        extraHeaders: HTTPHeaders = [:]
    ) async throws {
        let body = ByteBuffer(bytes: bytes)
        var headers = HTTPHeaders()
        headers.add(name: "Content-Type", value: "application/json")
        headers.add(name: "Content-Length", value: "\(body.readableBytes)")
        headers.add(name: "X-Request-Id", value: requestID)
        headers.add(contentsOf: extraHeaders)
        if !keepAlive { headers.add(name: "Connection", value: "close") }
        try await writer.write(.head(HTTPResponseHead(version: .http1_1, status: status, headers: headers)))
        try await writer.write(.body(.byteBuffer(body)))
        // Complete once the body is out (Content-Length): a client gone by the empty end changes nothing.
        try? await writer.write(.end(nil))
    }
}
