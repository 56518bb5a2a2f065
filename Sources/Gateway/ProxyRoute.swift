import Foundation
import NIOCore
import NIOHTTP1

/// What the gateway does with a path: the OpenAI endpoints it serves and how each is routed.
enum ProxyRoute: Equatable {
    /// A POST whose JSON body names the model that picks the backend.
    case modelRouted(path: String)
    /// `GET /v1/models`, answered by the listing backend.
    case listModels

    static let modelRoutedPaths: Set<String> = ["/v1/chat/completions", "/v1/completions", "/v1/embeddings"]

    /// The route for a request line, or the error to answer.
    static func resolve(method: HTTPMethod, uri: String) -> Result<ProxyRoute, OpenAIError> {
        let path = String(uri.split(separator: "?", maxSplits: 1).first ?? "")
        if modelRoutedPaths.contains(path) {
            return method == .POST ? .success(.modelRouted(path: path)) : .failure(.methodNotAllowed(method, path: path))
        }
        if path == "/v1/models" {
            return method == .GET ? .success(.listModels) : .failure(.methodNotAllowed(method, path: path))
        }
        return .failure(.notFound(path: path))
    }

    /// Reads the `model` field of a JSON request body without keeping anything else.
    static func model(in body: ByteBuffer) -> Result<String, OpenAIError> {
        let data = Data(body.readableBytesView)
        guard let object = try? JSONSerialization.jsonObject(with: data), let fields = object as? [String: Any] else {
            return .failure(.invalidBody("The request body is not a JSON object. Send Content-Type: application/json."))
        }
        guard let model = fields["model"] as? String, !model.isEmpty else {
            return .failure(OpenAIError(status: .badRequest, message: "You must provide a model parameter.", code: "missing_model", param: "model"))
        }
        return .success(model)
    }
}
