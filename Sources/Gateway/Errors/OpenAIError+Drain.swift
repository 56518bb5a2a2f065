import NIOHTTP1

extension OpenAIError {
    /// How popgated's drain ends a request still in flight when `gateway.drain_timeout_s` runs out:
    /// the last event of a stream already begun, or the whole answer when none has begun. The
    /// status is also the receipt's. The OpenAI SDKs retry a 503 answer by themselves, and raise the
    /// error event of a stream (its tokens so far are the client's to keep or throw away).
    static let serverShuttingDown = OpenAIError(
        status: .serviceUnavailable, message: "The PoP is restarting; retry the request.", type: "server_error",
        code: "server_shutting_down"
    )
}
