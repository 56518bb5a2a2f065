import AsyncHTTPClient
import NIOCore
import NIOHTTP1
import PopConfig

/// Pooled keep-alive HTTP connections to the inference workers across the backbone.
///
/// Bodies are streamed in both directions and never written anywhere but the sockets.
public final class UpstreamClient: Sendable {
    let http: HTTPClient

    /// Creates a client on `eventLoopGroup`.
    public init(eventLoopGroup: any EventLoopGroup) {
        var configuration = HTTPClient.Configuration()
        configuration.redirectConfiguration = .disallow
        configuration.decompression = .disabled
        // The backbone is a private link: a worker that does not accept within a second is down. The
        // client keeps retrying a refused connection until this passes, so it is also how long a
        // request waits before failing over to the next backend.
        configuration.timeout = .init(connect: .seconds(1), read: .seconds(300))
        // As many connections per worker as requests in flight to it (AsyncHTTPClient's default of 8
        // would queue the rest inside the gateway, where the worker's scheduler cannot see them).
        configuration.connectionPool = .init(idleTimeout: .seconds(60), concurrentHTTP1ConnectionsPerHostSoftLimit: 1024)
        http = HTTPClient(eventLoopGroupProvider: .shared(eventLoopGroup), configuration: configuration)
    }

    /// Closes pooled connections; call once at shutdown.
    public func shutdown() async throws {
        try await http.shutdown()
    }

    /// A small GET (health, metrics): status and body, the body capped at 4 MiB.
    func fetch(_ url: String, timeout: TimeAmount) async throws -> (status: UInt, body: String) {
        var request = HTTPClientRequest(url: url)
        request.method = .GET
        let response = try await http.execute(request, timeout: timeout)
        let body = try await response.body.collect(upTo: 4 << 20)
        return (response.status.code, String(buffer: body))
    }

    /// Sends one request to `backend` and returns its response with the body still streaming.
    ///
    /// Only headers the worker needs are forwarded: never the client's Authorization (that is
    /// the client's secret for the PoP, not for the worker).
    func send(
        backend: BackendSettings, method: HTTPMethod, path: String, clientHeaders: HTTPHeaders, body: ByteBuffer?,
        requestID: String
    ) async throws -> HTTPClientResponse {
        var request = HTTPClientRequest(url: backend.url + path)
        request.method = method
        for name in ["Content-Type", "Accept"] {
            if let value = clientHeaders.first(name: name) { request.headers.add(name: name, value: value) }
        }
        request.headers.add(name: "X-Request-Id", value: requestID)
        if let body { request.body = .bytes(body) }
        return try await http.execute(request, timeout: .seconds(600))
    }
}
