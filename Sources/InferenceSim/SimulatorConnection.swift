import Foundation
import Logging
import NIOCore
import NIOHTTP1

/// Serves the requests of one HTTP/1.1 connection, one after another, until the client or a
/// response asks to close.
///
/// Logs say which request was served and with what outcome (method, path, status, model, token
/// counts), never what a request or response contained.
struct SimulatorConnection: Sendable {
    typealias Parts = NIOAsyncChannelInboundStream<HTTPServerRequestPart>.AsyncIterator

    let options: SimulatorOptions
    let endpoints: SimulatorEndpoints
    let metrics: SimulatorMetrics
    /// While it lasts, every request is answered 503 "Loading model" (llama.cpp mode only).
    let loading: LoadingWindow
    let logger: Logger

    private enum Next { case keepAlive, close }

    /// Serves `channel` and closes it; never throws, so one bad connection cannot end the server.
    ///
    /// The requests are served in one child task while another waits for the connection to close;
    /// whichever ends first ends the other. So a generation stops the moment its client goes away,
    /// as vLLM aborts the request of a client that disconnected, and not at its next token's write,
    /// which at a slow token rate comes seconds later. Watching the close rather than reading ahead
    /// leaves a pipelined next request unread until its turn: only the end of the connection counts.
    func serve(_ channel: HTTPServerChannel) async {
        // NIO closes the channel when the client's side ends (read EOF) or is reset: remote half-closure
        // is not enabled, so a client that only shuts down its write side counts as gone. HTTP/1.1
        // clients do not half-close and then wait for an answer; one that did would lose it.
        let (closed, closing) = AsyncStream<Never>.makeStream()
        channel.channel.closeFuture.whenComplete { _ in closing.finish() }
        do {
            try await channel.executeThenClose { inbound, outbound in
                try await withThrowingTaskGroup(of: Void.self) { group in
                    group.addTask { try await serveRequests(inbound, writer: outbound) }
                    // Ends at the close, or when cancelled because the requests ended first.
                    group.addTask { for await _ in closed {} }
                    try await group.next()
                    group.cancelAll()
                }
            }
        } catch is CancellationError {
            // The server is shutting down.
        } catch {
            logger.debug("connection ended with an error", metadata: ["error": "\(error)"])
        }
    }

    /// Answers requests until the client or a response asks to close.
    private func serveRequests(
        _ inbound: NIOAsyncChannelInboundStream<HTTPServerRequestPart>, writer: ResponseWriter
    ) async throws {
        var parts = inbound.makeAsyncIterator()
        while let part = try await parts.next() {
            // A body part here means the request before it was not read to its end.
            guard case .head(let head) = part else { return }
            guard try await respond(to: head, parts: &parts, writer: writer) == .keepAlive else { return }
        }
    }

    private func respond(to head: HTTPRequestHead, parts: inout Parts, writer: ResponseWriter) async throws -> Next {
        var exchange = HTTPExchange(request: head, writer: writer)
        var log = logger
        log[metadataKey: "http.method"] = "\(head.method.rawValue)"
        log[metadataKey: "http.path"] = "\(SimulatorRoute.path(of: head.uri))"

        let route: SimulatorRoute
        if loading.isLoading(at: .now) {
            if try await !discardBody(&parts) { exchange.closeAfterResponse() }
            try await exchange.send(.loadingModel, engine: options.engine)
            // A router polls a loading worker's health often; keep that out of the default log.
            log.debug("request refused: the model is loading", metadata: ["http.status": "503"])
            return exchange.keepAlive ? .keepAlive : .close
        }

        switch SimulatorRoute.resolve(method: head.method, uri: head.uri, engine: options.engine) {
        case .failure(let error):
            if try await !discardBody(&parts) { exchange.closeAfterResponse() }
            let allow = error.status == .methodNotAllowed ? SimulatorRoute.allowedMethod(uri: head.uri) : nil
            try await exchange.send(error, engine: options.engine, allow: allow)
            log.info("request refused", metadata: ["http.status": "\(error.status.code)"])
            return exchange.keepAlive ? .keepAlive : .close
        case .success(let resolved):
            route = resolved
        }

        var body = ByteBuffer()
        if route.takesBody {
            guard let read = try await readBody(head: head, parts: &parts, exchange: exchange) else {
                exchange.closeAfterResponse()
                let error = SimulatorError.bodyTooLarge(limit: options.maxRequestBodyBytes)
                try await exchange.send(error, engine: options.engine)
                log.info("request refused", metadata: ["http.status": "\(error.status.code)"])
                // Read what the client already sent before closing: closing with unread data makes the
                // kernel answer with a reset, which can destroy the 413 before the client reads it.
                _ = try? await discardBody(&parts, upTo: Self.drainLimit)
                return .close
            }
            body = read
        } else if try await !discardBody(&parts) {
            exchange.closeAfterResponse()
        }

        // vLLM shares cached prefixes only between requests with the same salt: logged so tests
        // can see which salt each tenant's requests carried.
        if let fields = try? JSONSerialization.jsonObject(with: Data(body.readableBytesView)) as? [String: Any],
           let salt = fields["cache_salt"] as? String
        {
            log[metadataKey: "cache_salt"] = "\(salt)"
        }
        switch await endpoints.reply(to: route, body: body) {
        case .immediate(let status, let contentType, let replyBody):
            try await exchange.send(status: status, contentType: contentType, body: replyBody)
            // Health checks and scrapes come every few seconds; keep them out of the default log.
            let level: Logger.Level = [.health, .metrics, .props].contains(route) ? .debug : .info
            log.log(level: level, "request served", metadata: ["http.status": "\(status.code)"])
        case .failure(let error, let model):
            if let model { log[metadataKey: "model"] = "\(model)" }
            try await exchange.send(error, engine: options.engine)
            log.info("request refused", metadata: ["http.status": "\(error.status.code)"])
        case .embeddings(let replyBody, let model, let promptTokens, let priority):
            log[metadataKey: "model"] = "\(model)"
            await metrics.admit(priority: priority)
            do {
                try await exchange.send(status: .ok, contentType: "application/json", body: replyBody)
            } catch {
                await metrics.finish(promptTokens: promptTokens, generatedTokens: 0, succeeded: false)
                throw error
            }
            await metrics.finish(promptTokens: promptTokens, generatedTokens: 0, succeeded: true)
            log.info("request served", metadata: ["http.status": "200", "usage.prompt_tokens": "\(promptTokens)"])
        case .generation(let generation):
            log[metadataKey: "model"] = "\(generation.model)"
            try await generate(generation, exchange: &exchange, log: log)
        }
        return exchange.keepAlive ? .keepAlive : .close
    }

    /// Answers a chat completion, legacy completion or response at the configured token rate, keeping the gauges right
    /// whether it finishes, the client leaves, or the server shuts down.
    private func generate(_ generation: Generation, exchange: inout HTTPExchange, log: Logger) async throws {
        await metrics.admit(priority: generation.priority)
        log.debug("generation started", metadata: ["stream": "\(generation.stream)"])
        let start = ContinuousClock.now
        var generated = 0
        do {
            if generation.stream {
                try await stream(generation, from: start, exchange: &exchange, generated: &generated)
            } else {
                try await sleep(until: start + options.generationTime(tokens: generation.completionTokens))
                generated = generation.completionTokens
                try await exchange.send(status: .ok, contentType: "application/json", body: generation.response())
            }
        } catch {
            // Read first: this is when generation stopped, which tests compare with when the client left.
            let stoppedAt = WallClock.microsecondsSinceEpoch()
            if !generation.stream {
                // An engine counts the tokens it made before the abort, though none of them were sent.
                let elapsed = ContinuousClock.now - start
                generated = max(generated, options.tokensGenerated(in: elapsed, of: generation.completionTokens))
            }
            await metrics.abandon(promptTokens: generation.promptTokens, generatedTokens: generated)
            log.info(
                "request abandoned",
                metadata: [
                    "stream": "\(generation.stream)", "generation.stopped_us": "\(stoppedAt)",
                    "usage.prompt_tokens": "\(generation.promptTokens)", "usage.completion_tokens": "\(generated)",
                ]
            )
            throw error
        }
        await metrics.finish(promptTokens: generation.promptTokens, generatedTokens: generated, succeeded: true)
        log.info(
            "request served",
            metadata: [
                "http.status": "200", "stream": "\(generation.stream)",
                "usage.prompt_tokens": "\(generation.promptTokens)", "usage.completion_tokens": "\(generated)",
            ]
        )
    }

    /// Sends the stream's events, each token's as soon as its time has come. Deadlines count from
    /// `start`, so slow writes do not make the whole stream drift later.
    private func stream(
        _ generation: Generation, from start: ContinuousClock.Instant, exchange: inout HTTPExchange,
        generated: inout Int
    ) async throws {
        try await exchange.beginEventStream()
        for event in generation.streamEvents() {
            if let index = event.tokenIndex {
                try await sleep(until: start + options.generationTime(tokens: index + 1))
                generated = index + 1
            }
            try await exchange.sendEvent(event.bytes)
        }
        try await exchange.endEventStream()
    }

    private func sleep(until deadline: ContinuousClock.Instant) async throws {
        // With no rate limit there is nothing to wait for; skipping the call keeps 0 tokens/s instant.
        guard deadline > .now else { return }
        try await Task.sleep(until: deadline, clock: .continuous)
    }

    /// Reads a request body up to the limit, asking for it with `100 Continue` when the client
    /// waits for that; nil when it is too large (the rest is then left unread).
    private func readBody(
        head: HTTPRequestHead, parts: inout Parts, exchange: HTTPExchange
    ) async throws -> ByteBuffer? {
        let limit = options.maxRequestBodyBytes
        if let declared = head.headers.first(name: "Content-Length").flatMap(Int.init), declared > limit {
            return nil
        }
        if head.headers.first(name: "Expect")?.lowercased() == "100-continue" {
            try await exchange.sendContinue()
        }
        var body = ByteBuffer()
        while let part = try await parts.next() {
            switch part {
            case .body(var chunk):
                guard body.readableBytes + chunk.readableBytes <= limit else { return nil }
                body.writeBuffer(&chunk)
            case .end:
                return body
            case .head:
                throw ChannelError.inputClosed
            }
        }
        throw ChannelError.inputClosed
    }

    /// How much of a refused body is read before the connection closes anyway.
    private static let drainLimit = 1 << 20

    /// Skips a body the route does not use; false when it was too large to skip (or the stream
    /// broke off), so the connection must close after the response.
    private func discardBody(_ parts: inout Parts, upTo limit: Int? = nil) async throws -> Bool {
        let limit = limit ?? options.maxRequestBodyBytes
        var discarded = 0
        while let part = try await parts.next() {
            switch part {
            case .body(let chunk):
                discarded += chunk.readableBytes
                if discarded > limit { return false }
            case .end:
                return true
            case .head:
                return false
            }
        }
        return false
    }
}
