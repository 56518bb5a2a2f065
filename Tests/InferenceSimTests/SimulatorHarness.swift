import InferenceSim
import Logging
import NIOCore
import NIOHTTP1
import NIOPosix

/// A test went past its deadline: the server or client is stuck.
struct TestTimedOut: Error, CustomStringConvertible {
    let limit: Duration
    var description: String { "the test did not finish within \(limit)" }
}

/// Runs `body` against a simulator on 127.0.0.1 with a kernel-chosen port, then shuts the server
/// down by cancellation and waits for it. The whole exchange is bounded by `limit`, so a hang
/// fails the test instead of stalling the suite; nothing waits on a timer otherwise.
func withSimulator<Result: Sendable>(
    models: [String] = ["sim-small", "sim-large"], tokensPerSecond: Double = 0, maxRunning: Int = 8,
    reportQueueDepth: Int? = nil, reportKVUsage: Double? = nil, maxRequestBodyBytes: Int = 1 << 20,
    priorityScheduling: Bool = false, echoPrompt: Bool = false, engine: InferenceEngine = .vllm,
    loadingTime: Duration = .zero, reportBusySlots: Int? = nil, limit: Duration = .seconds(30),
    logger: Logger = Logger(label: "inference-sim-test") { _ in SwiftLogNoOpLogHandler() },
    _ body: @escaping @Sendable (SimulatorServer) async throws -> Result
) async throws -> Result {
    let options = try SimulatorOptions(
        listen: ListenAddress(host: "127.0.0.1", port: 0), models: models, tokensPerSecond: tokensPerSecond,
        maxRunning: maxRunning, reportQueueDepth: reportQueueDepth, reportKVUsage: reportKVUsage,
        maxRequestBodyBytes: maxRequestBodyBytes, priorityScheduling: priorityScheduling, echoPrompt: echoPrompt,
        engine: engine, loadingTime: loadingTime, reportBusySlots: reportBusySlots
    )
    let server = try await SimulatorServer.bind(options: options, logger: logger)
    return try await withThrowingTaskGroup(of: Result?.self) { group in
        group.addTask {
            try await server.run()
            return nil
        }
        group.addTask {
            // Cancelled (the body finished first) is the normal way out of this child.
            guard (try? await Task.sleep(for: limit)) != nil else { return nil }
            throw TestTimedOut(limit: limit)
        }
        group.addTask { try await body(server) }
        // The first child to produce a value is the body (run() and the deadline only return by
        // throwing or, for run(), after cancellation).
        while let next = try await group.next() {
            if let result = next {
                group.cancelAll()
                try await group.waitForAll()
                return result
            }
        }
        preconditionFailure("the test body ended without a result")
    }
}

/// A response as the test client received it.
struct ReceivedResponse: Sendable {
    var head: HTTPResponseHead
    /// The body parts in the order they arrived.
    var parts: [ByteBuffer]

    var status: HTTPResponseStatus { head.status }
    var body: String { parts.map { String(buffer: $0) }.joined() }

    func header(_ name: String) -> String? { head.headers.first(name: name) }
}

/// One plain HTTP/1.1 client connection to the simulator over loopback, built from NIO's own
/// HTTP codec so that the server's framing (Content-Length, chunked) is checked by a strict parser.
struct TestHTTPConnection {
    private var inbound: NIOAsyncChannelInboundStream<HTTPClientResponsePart>.AsyncIterator
    private let outbound: NIOAsyncChannelOutboundWriter<HTTPClientRequestPart>

    struct UnexpectedPart: Error, CustomStringConvertible {
        let description: String
    }

    /// Connects to `port`, runs `body`, and closes the connection. With `halfClosable`,
    /// ``finishSending()`` shuts down the connection's sending side only.
    static func with<Result: Sendable>(
        port: Int, halfClosable: Bool = false, _ body: (inout TestHTTPConnection) async throws -> Result
    ) async throws -> Result {
        let channel = try await ClientBootstrap(group: MultiThreadedEventLoopGroup.singleton)
            .connect(host: "127.0.0.1", port: port) { channel in
                channel.eventLoop.makeCompletedFuture {
                    try channel.pipeline.syncOperations.addHTTPClientHandlers()
                    return try NIOAsyncChannel<HTTPClientResponsePart, HTTPClientRequestPart>(
                        wrappingChannelSynchronously: channel,
                        configuration: .init(isOutboundHalfClosureEnabled: halfClosable)
                    )
                }
            }
        return try await channel.executeThenClose { inbound, outbound in
            var connection = TestHTTPConnection(inbound: inbound.makeAsyncIterator(), outbound: outbound)
            return try await body(&connection)
        }
    }

    /// Sends one request; a body gets a Content-Length.
    func send(
        _ method: HTTPMethod, _ path: String, body: String? = nil, headers extra: [(String, String)] = []
    ) async throws {
        var headers = HTTPHeaders([("Host", "127.0.0.1")])
        if let body {
            headers.add(name: "Content-Type", value: "application/json")
            headers.add(name: "Content-Length", value: "\(body.utf8.count)")
        }
        for (name, value) in extra { headers.add(name: name, value: value) }
        try await outbound.write(.head(HTTPRequestHead(version: .http1_1, method: method, uri: path, headers: headers)))
        if let body { try await outbound.write(.body(.byteBuffer(ByteBuffer(string: body)))) }
        try await outbound.write(.end(nil))
    }

    /// Ends the requests: on a half-closable connection, shuts down the sending side (a FIN) and
    /// leaves the receiving side open.
    func finishSending() {
        outbound.finish()
    }

    /// The next response head.
    mutating func receiveHead() async throws -> HTTPResponseHead {
        guard case .head(let head) = try await inbound.next() else {
            throw UnexpectedPart(description: "expected a response head")
        }
        return head
    }

    /// The next body part, or nil at the response's end.
    mutating func receiveBodyPart() async throws -> ByteBuffer? {
        switch try await inbound.next() {
        case .body(let part): return part
        case .end: return nil
        case .head, nil: throw UnexpectedPart(description: "expected a body part or the end")
        }
    }

    /// The rest of a response whose head was already read.
    mutating func receiveBody(head: HTTPResponseHead) async throws -> ReceivedResponse {
        var parts: [ByteBuffer] = []
        while let part = try await receiveBodyPart() { parts.append(part) }
        return ReceivedResponse(head: head, parts: parts)
    }

    /// Sends a request and reads its whole response.
    mutating func request(
        _ method: HTTPMethod, _ path: String, body: String? = nil, headers: [(String, String)] = []
    ) async throws -> ReceivedResponse {
        try await send(method, path, body: body, headers: headers)
        let head = try await receiveHead()
        return try await receiveBody(head: head)
    }

    /// Whether the server has closed the connection (the inbound stream ended).
    mutating func serverClosed() async throws -> Bool {
        (try await inbound.next()) == nil
    }
}

/// Opens a connection, sends one request, and returns its response.
func fetch(
    port: Int, _ method: HTTPMethod, _ path: String, body: String? = nil
) async throws -> ReceivedResponse {
    try await TestHTTPConnection.with(port: port) { connection in
        try await connection.request(method, path, body: body)
    }
}
