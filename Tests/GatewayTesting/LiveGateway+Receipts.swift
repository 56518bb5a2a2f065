import Foundation
import Gateway
import NIOCore
import NIOHTTP1
import Receipts

extension LiveGateway {
    /// The receipt `id` (an `X-Receipt-Id`) as its tenant reads it: `GET /v1/receipts/{id}` from
    /// `peer`'s address with its key, which must be a live key of the receipt's tenant.
    ///
    /// A request settles when the gateway sees its end, which for a stream the client cut comes after
    /// the client has gone: while the receipt is not found, the next receipt the log writes is waited
    /// for (the log's own checkpoint signal, no clock), then the gateway is asked again.
    package func receipt(
        _ id: String, readBy peer: TestPeer, timeout: Duration = .seconds(10)
    ) async throws -> ReceiptJSON {
        let deadline = ContinuousClock.now + timeout
        while true {
            let written = receipts.state.written
            let (status, body) = try await connect(from: peer.address) { connection in
                try await connection.send(.GET, "/v1/receipts/\(id)", apiKey: peer.apiKey)
                let head = try await connection.head()
                return (head.status, try await connection.body())
            }
            if status == .ok {
                let decoder = JSONDecoder()
                decoder.keyDecodingStrategy = .convertFromSnakeCase
                return try decoder.decode(ReceiptAnswer.self, from: Data(body.utf8)).receipt
            }
            let left = deadline - .now
            guard status == .notFound, left > .zero else {
                throw ReceiptNotRead(id: id, status: status.code, body: body)
            }
            // A checkpoint covering entry `written` exists once a receipt beyond those above is written.
            do {
                _ = try await receipts.checkpoint(covering: written, on: anyEventLoop, timeout: TimeAmount(left)).get()
            } catch is CheckpointNotYetSigned {
                throw ReceiptNotRead(
                    id: id, status: status.code, body: "no receipt was written within \(timeout): \(body)"
                )
            }
        }
    }

    private struct ReceiptAnswer: Decodable {
        let receipt: ReceiptJSON
    }
}

/// The gateway did not give the receipt a test asked for.
package struct ReceiptNotRead: Error, CustomStringConvertible {
    package let id: String
    package let status: UInt
    package let body: String
    package var description: String { "GET /v1/receipts/\(id) answered \(status): \(body)" }
}
