import Addressing
import Logging
import NIOCore
import NIOHTTP1
import PopConfig
import Receipts
import Registry

extension HTTPConnection {
    /// One request as the log and the metrics see it.
    struct Request {
        /// The request's random id, which is also its receipt's.
        let receiptID = RequestID.make()
        /// `X-Request-Id`: `req_` and the id's hex.
        let id: String
        let started = ContinuousClock.now
        let head: HTTPRequestHead
        var log: RequestLog
        var tenantLabel = "unknown"
        var tierLabel = "unknown"
        /// The peer's WireGuard public key, once the peer is known.
        var peerKey: [UInt8]?
        /// The model the body named ("" until it is read).
        var model = ""
        /// Whether the request gets a receipt (all do but reads of the receipt log, and the 503s
        /// given while it cannot be written).
        var isReceipted = true

        init(head: HTTPRequestHead, logger: Logger) {
            self.head = head
            id = RequestID.header(receiptID)
            log = RequestLog(logger)
            log[metadataKey: "request.id"] = "\(id)"
        }

        /// `X-Receipt-Id`: `rcpt_` and the same hex as the request id.
        var receiptHeader: String { receiptID.description }

        /// Whether the connection may serve another request after this one. Not after a request that
        /// asks to upgrade the protocol (CONNECT, or `Upgrade`): the HTTP parser reads nothing after it.
        var keepAlive: Bool { head.keepsConnection }

        /// `Expect: 100-continue`: the client sends the body only once told to (RFC 9110, section 10.1.1).
        var expectsContinue: Bool {
            head.headers[canonicalForm: "expect"].contains { $0.lowercased() == "100-continue" }
        }

        /// Counts the answer in the metrics.
        func record(
            _ status: UInt, backend: String? = nil, timeToFirstByte: Duration? = nil, in context: GatewayContext
        ) {
            context.metrics.requestFinished(
                tenant: tenantLabel, tier: tierLabel, backend: backend, endpoint: ProxyRoute.path(of: head.uri),
                status: Int(status), duration: ContinuousClock.now - started, timeToFirstByte: timeToFirstByte
            )
        }
    }

    /// A request let through authentication and the limits: it holds one of its peer's stream slots.
    struct Admission {
        let identity: RequestIdentity
        let tier: Tier
        let route: ProxyRoute
        var isStream = false
        /// The tokens held back from the key's allowance while the request runs (its `max_tokens`).
        var reservedTokens = 0
    }
}
