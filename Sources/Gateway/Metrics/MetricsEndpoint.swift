import NIOHTTP1

/// What the metrics listener answers to a request head: the metrics for `GET /metrics` (a query
/// string is ignored, as Prometheus may add one), 404 for anything else. Pure, so it is tested
/// without a socket.
enum MetricsEndpoint: Equatable {
    case metrics
    case notFound

    /// The Prometheus text exposition format's content type.
    static let contentType = "text/plain; version=0.0.4; charset=utf-8"

    init(method: HTTPMethod, uri: String) {
        let path = uri.split(separator: "?", maxSplits: 1, omittingEmptySubsequences: false).first ?? ""
        self = method == .GET && path == "/metrics" ? .metrics : .notFound
    }

    /// The response head and body; `render` is called only when the metrics are asked for.
    func response(version: HTTPVersion, keepAlive: Bool, render: () -> String) -> (HTTPResponseHead, String) {
        let (status, body, contentType): (HTTPResponseStatus, String, String) =
            switch self {
            case .metrics: (.ok, render(), Self.contentType)
            case .notFound: (.notFound, "404 not found: metrics are at GET /metrics\n", "text/plain; charset=utf-8")
            }
        var headers = HTTPHeaders()
        headers.add(name: "Content-Type", value: contentType)
        headers.add(name: "Content-Length", value: String(body.utf8.count))
        if !keepAlive { headers.add(name: "Connection", value: "close") }
        return (HTTPResponseHead(version: version, status: status, headers: headers), body)
    }
}
