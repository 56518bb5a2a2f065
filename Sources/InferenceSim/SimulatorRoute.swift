import NIOHTTP1

/// The endpoints the simulator serves.
enum SimulatorRoute: Sendable, Equatable {
    case health
    case models
    case metrics
    /// llama-server's properties (slot count, model alias); served in llama.cpp mode only.
    case props
    case chatCompletions
    case completions
    case embeddings
    case responses

    /// Every route with its path and the one method it answers.
    private static let table: [(path: String, method: HTTPMethod, route: SimulatorRoute)] = [
        ("/health", .GET, .health),
        ("/metrics", .GET, .metrics),
        ("/v1/models", .GET, .models),
        ("/props", .GET, .props),
        ("/v1/chat/completions", .POST, .chatCompletions),
        ("/v1/completions", .POST, .completions),
        ("/v1/embeddings", .POST, .embeddings),
        ("/v1/responses", .POST, .responses),
    ]

    /// Whether the route reads a JSON request body; such requests are also the inference work
    /// counted in the vLLM gauges, as opposed to probes and listings.
    var takesBody: Bool {
        switch self {
        case .health, .models, .metrics, .props: false
        case .chatCompletions, .completions, .embeddings, .responses: true
        }
    }

    /// Whether `engine` serves the route: vLLM has no `/props`.
    func isServed(by engine: InferenceEngine) -> Bool {
        self != .props || engine == .llamacpp
    }

    /// The route for a request line; 404 for an unknown path, 405 for a known path with the wrong
    /// method (llama.cpp, which has no 405, answers both with its 404). The query string is ignored.
    static func resolve(
        method: HTTPMethod, uri: String, engine: InferenceEngine = .vllm
    ) -> Result<SimulatorRoute, SimulatorError> {
        let path = Self.path(of: uri)
        guard let entry = table.first(where: { $0.path == path && $0.route.isServed(by: engine) }) else {
            return .failure(engine == .llamacpp ? .fileNotFound : .unknownPath(path))
        }
        guard method == entry.method else {
            return .failure(
                engine == .llamacpp ? .fileNotFound : .methodNotAllowed(method, path: path, allowed: entry.method)
            )
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
