import NIOHTTP1

/// What the gateway does with a path: the OpenAI endpoints it serves and how each is routed.
enum ProxyRoute: Equatable {
    /// A POST whose JSON body names the model that picks the backend.
    case modelRouted(path: String)
    /// `GET /v1/models`, answered by the gateway from the backends' own listings (``ModelListing``).
    case listModels
    /// `GET /v1/receipts…`, answered by the gateway from the receipt log (``ReceiptAPI``).
    case receipts(ReceiptAPI.Route)

    static let modelRoutedPaths: Set<String> = [
        "/v1/chat/completions", "/v1/completions", "/v1/embeddings", "/v1/responses",
    ]

    /// The path of a request target, without its query.
    static func path(of uri: String) -> String {
        guard let query = uri.utf8.firstIndex(of: UInt8(ascii: "?")) else { return uri }
        return String(uri[..<query])
    }

    /// The route for a request line, or the error to answer.
    static func resolve(method: HTTPMethod, uri: String) -> Result<ProxyRoute, OpenAIError> {
        let path = path(of: uri)
        if modelRoutedPaths.contains(path) {
            return method == .POST ? .success(.modelRouted(path: path)) : .failure(.methodNotAllowed(method, path: path))
        }
        if path == "/v1/models" {
            return method == .GET ? .success(.listModels) : .failure(.methodNotAllowed(method, path: path))
        }
        if let receipts = ReceiptAPI.route(path: path) {
            return method == .GET ? .success(.receipts(receipts)) : .failure(.methodNotAllowed(method, path: path))
        }
        return .failure(.notFound(path: path))
    }
}
