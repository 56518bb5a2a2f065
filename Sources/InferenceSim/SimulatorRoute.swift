import NIOHTTP1

/// The endpoints the simulator serves.
enum SimulatorRoute: Sendable, Equatable {
    case health
    case models
    case metrics
    case chatCompletions
    case completions
    case embeddings
    case responses

    /// Every route with its path and the one method it answers.
    private static let table: [(path: String, method: HTTPMethod, route: SimulatorRoute)] = [
        ("/health", .GET, .health),
        ("/metrics", .GET, .metrics),
        ("/v1/models", .GET, .models),
        ("/v1/chat/completions", .POST, .chatCompletions),
        ("/v1/completions", .POST, .completions),
        ("/v1/embeddings", .POST, .embeddings),
        ("/v1/responses", .POST, .responses),
    ]

    /// Whether the route reads a JSON request body; such requests are also the inference work
    /// counted in the vLLM gauges, as opposed to probes and listings.
    var takesBody: Bool {
        switch self {
        case .health, .models, .metrics: false
        case .chatCompletions, .completions, .embeddings, .responses: true
        }
    }

    /// The route for a request line; 404 for an unknown path, 405 for a known path with the wrong
    /// method. The query string is ignored.
    static func resolve(method: HTTPMethod, uri: String) -> Result<SimulatorRoute, SimulatorError> {
        let path = Self.path(of: uri)
        guard let entry = table.first(where: { $0.path == path }) else {
            return .failure(.unknownPath(path))
        }
        guard method == entry.method else {
            return .failure(.methodNotAllowed(method, path: path, allowed: entry.method))
        }
        return .success(entry.route)
    }

    /// The method `uri`'s path answers, for the `Allow` header of a 405.
    static func allowedMethod(uri: String) -> HTTPMethod? {
        let path = Self.path(of: uri)
        return table.first { $0.path == path }?.method
    }

    /// The path of a request target, without its query.
    static func path(of uri: String) -> String {
        String(uri.prefix { $0 != "?" && $0 != "#" })
    }
}
