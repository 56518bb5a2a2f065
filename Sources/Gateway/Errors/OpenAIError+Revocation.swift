import NIOHTTP1

extension OpenAIError {
    /// How a request in flight is ended by a revocation: the last event of a stream already
    /// begun, or the whole answer (401) when none has begun. The status is also the receipt's.
    static func revoked(_ revocation: Revocation) -> OpenAIError {
        switch revocation {
        case .key:
            OpenAIError(
                status: .unauthorized,
                message: "The API key of this request was revoked while it was in flight; the response ends here.",
                code: "api_key_revoked"
            )
        case .peer(.revoked):
            OpenAIError(
                status: .unauthorized,
                message: "This WireGuard peer was revoked while the request was in flight; the response ends here.",
                code: "peer_revoked"
            )
        case .peer(.expired):
            OpenAIError(
                status: .unauthorized,
                message: "This WireGuard peer expired while the request was in flight; the response ends here.",
                code: "peer_expired"
            )
        }
    }
}
