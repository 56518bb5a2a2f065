import NIOCore
import NIOHTTP1
import Testing

@testable import InferenceSim

/// A client that goes away stops its generation at once, as vLLM aborts the request of a client
/// that disconnected; the gateway counts on it to free the worker when a tenant hangs up.
@Suite("A client that leaves", .timeLimit(.minutes(1)))
struct ClientDepartureTests {
    /// At this rate the first token is due 10 s into a generation, so one that stopped only when a
    /// token's write failed would stop about 10 s after its client left.
    static let tokensPerSecond = 0.1
    /// How soon after the close the generation must have stopped, in microseconds: well inside the
    /// 10 s, and loose enough for a loaded machine (on an idle one it takes well under a millisecond).
    static let bound: Int64 = 2_000_000

    static func body(stream: Bool) -> String {
        #"{"model":"sim-small","stream":\#(stream),"max_tokens":20,"messages":[{"role":"user","content":"x"}]}"#
    }

    /// Awaits the "request abandoned" line and checks it against the client's close at `closedAt`,
    /// then the metrics the abandonment left.
    func expectAbandoned(
        _ records: AsyncStream<LogCapture.Record>, closedAt: Int64, stream: Bool, server: SimulatorServer
    ) async throws {
        let abandoned = try #require(await records.first(message: "request abandoned"))
        let stoppedAt = try #require(abandoned.metadata["generation.stopped_us"].flatMap { Int64($0) })
        #expect(stoppedAt >= closedAt)
        #expect(stoppedAt - closedAt < Self.bound, "generation stopped \(stoppedAt - closedAt) µs after the close")
        #expect(abandoned.metadata["usage.completion_tokens"] == "0")
        #expect(abandoned.metadata["stream"] == "\(stream)")

        // The line is written after the metrics were updated.
        let metrics = await server.metrics.snapshot
        #expect(metrics.abandonedTotal == 1)
        #expect(metrics.inFlight == 0)
        #expect(metrics.requestSuccessTotal == 0)
        #expect(metrics.generationTokensTotal == 0)
        #expect(metrics.promptTokensTotal == 2)
    }

    @Test("a stream stops when its client closes the connection, not at its next token")
    func streamStopsAtClose() async throws {
        let (logger, records) = LogCapture.make()
        try await withSimulator(tokensPerSecond: Self.tokensPerSecond, logger: logger) { server in
            let closedAt = try await TestHTTPConnection.with(port: server.port) { connection in
                try await connection.send(.POST, "/v1/chat/completions", body: Self.body(stream: true))
                #expect(try await connection.receiveHead().status == .ok)
                let first = try #require(try await connection.receiveBodyPart())
                #expect(String(buffer: first).contains(#""role":"assistant""#))
                // Returning closes the connection.
                return WallClock.microsecondsSinceEpoch()
            }
            try await expectAbandoned(records, closedAt: closedAt, stream: true, server: server)
        }
    }

    @Test("a whole answer stops being generated when its client closes the connection")
    func answerStopsAtClose() async throws {
        let (logger, records) = LogCapture.make()
        try await withSimulator(tokensPerSecond: Self.tokensPerSecond, logger: logger) { server in
            let closedAt = try await TestHTTPConnection.with(port: server.port) { connection in
                try await connection.send(.POST, "/v1/chat/completions", body: Self.body(stream: false))
                // Nothing is sent before the answer is whole, so the log says when the generation runs.
                _ = try #require(await records.first(message: "generation started"))
                return WallClock.microsecondsSinceEpoch()
            }
            try await expectAbandoned(records, closedAt: closedAt, stream: false, server: server)
        }
    }

    @Test("a client that only shuts down its sending side counts as gone")
    func halfCloseIsLeaving() async throws {
        let (logger, records) = LogCapture.make()
        try await withSimulator(tokensPerSecond: Self.tokensPerSecond, logger: logger) { server in
            try await TestHTTPConnection.with(port: server.port, halfClosable: true) { connection in
                try await connection.send(.POST, "/v1/chat/completions", body: Self.body(stream: true))
                _ = try await connection.receiveHead()
                _ = try #require(try await connection.receiveBodyPart())
                let closedAt = WallClock.microsecondsSinceEpoch()
                connection.finishSending()
                try await expectAbandoned(records, closedAt: closedAt, stream: true, server: server)
            }
        }
    }

    @Test("a request pipelined behind a stream is not a close: both are answered")
    func pipelinedRequestIsNotAClose() async throws {
        try await withSimulator(tokensPerSecond: 20) { server in
            try await TestHTTPConnection.with(port: server.port) { connection in
                let body =
                    #"{"model":"sim-small","stream":true,"max_tokens":4,"messages":[{"role":"user","content":"x"}]}"#
                try await connection.send(.POST, "/v1/chat/completions", body: body)
                // Sent while the stream is still generating (its 4 tokens take 200 ms).
                try await connection.send(.GET, "/health")
                let stream = try await connection.receiveBody(head: try await connection.receiveHead())
                #expect(stream.status == .ok)
                #expect(stream.body.hasSuffix("data: [DONE]\n\n"))
                let health = try await connection.receiveBody(head: try await connection.receiveHead())
                #expect(health.status == .ok)
            }
            let metrics = await server.metrics.snapshot
            #expect(metrics.abandonedTotal == 0)
            #expect(metrics.requestSuccessTotal == 1)
            #expect(metrics.generationTokensTotal == 4)
        }
    }
}
