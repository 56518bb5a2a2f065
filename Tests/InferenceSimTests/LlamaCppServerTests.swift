import InferenceSim
import NIOCore
import NIOHTTP1
import Testing

/// llamacpp mode over real sockets: what only the server as a whole decides (the loading window,
/// routing, refusals, the gauges while requests run).
@Suite("llama.cpp mode end to end", .timeLimit(.minutes(1)))
struct LlamaCppServerTests {
    static let loading = #"{"error":{"code":503,"message":"Loading model","type":"unavailable_error"}}"#
    static let chat = #"{"model":"sim-small","messages":[{"role":"user","content":"hi"}],"max_tokens":2"#

    @Test("while loading every request gets llama-server's 503, then the server answers")
    func loadingWindow() async throws {
        // Long enough that the requests below come within it however busy the machine running the tests is.
        try await withSimulator(engine: .llamacpp, loadingTime: .seconds(3)) { server in
            for (method, path, body) in [
                (HTTPMethod.GET, "/health", nil), (.GET, "/metrics", nil), (.GET, "/props", nil),
                (.GET, "/nowhere", nil), (.POST, "/v1/chat/completions", Self.chat + "}"),
            ] {
                let answer = try await fetch(port: server.port, method, path, body: body)
                #expect(answer.status == .serviceUnavailable, "\(path)")
                #expect(answer.body == Self.loading, "\(path)")
            }
            var health = try await fetch(port: server.port, .GET, "/health")
            let deadline = ContinuousClock.now + .seconds(10)
            while health.status == .serviceUnavailable, ContinuousClock.now < deadline {
                try await Task.sleep(for: .milliseconds(50))  // polled: the window's end announces itself nowhere
                health = try await fetch(port: server.port, .GET, "/health")
            }
            #expect(health.status == .ok)
            #expect(health.body == #"{"status":"ok"}"#)
            #expect(health.header("Content-Type") == "application/json")
        }
    }

    @Test("props, a priority and unknown fields ignored, bad JSON and wrong paths in llama.cpp's shapes")
    func answers() async throws {
        try await withSimulator(maxRunning: 3, engine: .llamacpp) { server in
            try await TestHTTPConnection.with(port: server.port) { connection in
                let props = try await connection.request(.GET, "/props")
                #expect(props.status == .ok)
                #expect(props.body.contains(#""total_slots":3"#))
                #expect(props.body.contains(#""model_alias":"sim-small""#))

                let ignored = try await connection.request(
                    .POST, "/v1/chat/completions",
                    body: Self.chat + #","priority":5,"cache_salt":"tenant-a","frobnicate":{"x":1}}"#
                )
                #expect(ignored.status == .ok)
                #expect(ignored.body.contains(#""timings":{"#))

                let bad = try await connection.request(.POST, "/v1/chat/completions", body: #"{"model":"#)
                #expect(bad.status == .badRequest)
                #expect(bad.body.hasPrefix(#"{"error":{"code":400,"message":"#))

                let wrongMethod = try await connection.request(.GET, "/v1/chat/completions")
                #expect(wrongMethod.status == .notFound)
                #expect(wrongMethod.header("Allow") == nil)
                #expect(
                    wrongMethod.body == #"{"error":{"code":404,"message":"File Not Found","type":"not_found_error"}}"#
                )
            }
        }
    }

    @Test("requests beyond the slot count are deferred while the slots are busy")
    func busySlots() async throws {
        try await withSimulator(tokensPerSecond: 20, maxRunning: 1, engine: .llamacpp) { server in
            let body = #"{"model":"sim-small","messages":[{"role":"user","content":"hi"}],"max_tokens":20}"#
            try await withThrowingTaskGroup(of: Void.self) { group in
                for _ in 0..<2 {
                    group.addTask { _ = try await fetch(port: server.port, .POST, "/v1/chat/completions", body: body) }
                }
                var metrics = ""
                for _ in 0..<50 where !metrics.contains("llamacpp:requests_deferred 1\n") {
                    try await Task.sleep(for: .milliseconds(20))
                    metrics = try await fetch(port: server.port, .GET, "/metrics").body
                }
                #expect(metrics.contains("\nllamacpp:requests_processing 1\n"))
                #expect(metrics.contains("\nllamacpp:requests_deferred 1\n"))
                try await group.waitForAll()
            }
            let after = try await fetch(port: server.port, .GET, "/metrics").body
            #expect(after.contains("\nllamacpp:requests_processing 0\n"))
            #expect(after.contains("\nllamacpp:tokens_predicted_total 40\n"))
        }
    }
}
