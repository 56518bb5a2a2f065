import NIOHTTP1

/// What a client that hung up mid-stream got: the answer's status and ids, and the events it read.
package struct CutStream: Sendable {
    package var status: HTTPResponseStatus
    /// `X-Receipt-Id`, under which the gateway writes the request's receipt.
    package var receiptID: String?
    /// `Retry-After` of a refusal.
    package var retryAfter: String?
    /// The events read before hanging up (none when the answer was not a stream).
    package var events: [ServerSentEvent]

    /// The events that carried generated text: what the client received of the completion.
    package var contentEvents: Int { events.filter { $0.content != nil }.count }
}

extension LiveGateway {
    /// Sends `request` (a stream) as `peer`, reads until `contentEvents` events have carried generated
    /// text, and hangs up without reading the rest, as a client does that stops a generation. A
    /// refusal is read whole.
    package func cutStream(
        as peer: TestPeer, _ request: ChatRequest, after contentEvents: Int
    ) async throws -> CutStream {
        try await connect(from: peer.address) { connection in
            try await connection.send(request, apiKey: peer.apiKey)
            let head = try await connection.head()
            var cut = CutStream(
                status: head.status, receiptID: head.receiptID,
                retryAfter: head.headers.first(name: "Retry-After"), events: []
            )
            if head.status == .ok {
                cut.events = try await connection.events(untilContent: contentEvents)
            } else {
                _ = try await connection.body()
            }
            return cut
        }
    }
}
