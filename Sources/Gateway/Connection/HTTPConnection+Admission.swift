import Addressing
import Logging
import NIOCore
import NIOHTTP1
import PopConfig
import Receipts
import Registry
import Sodium

/// A request's head decided: authentication (reused while a kept-alive client sends the same key
/// against the same snapshot), the registry's word on its key, the route, the tier
/// (``AdmissionPolicy``), then the limits, which take from shared allowances.
extension HTTPConnection {
    func decide(_ head: HTTPRequestHead) -> (Request, HTTPConnectionStateMachine.HeadDecision) {
        var request = Request(head: head, logger: context.logger)
        // The snapshot is read per request, so a peer revoked mid-connection is cut off here.
        let directory = context.directory.versioned
        let authorization = head.headers.first(name: "Authorization")
        let authentication: AuthenticationResult
        if let last = lastAuthenticated, last.generation == directory.generation, last.authorization == authorization {
            authentication = .authenticated(last.identity)
        } else {
            authentication = Authenticator.authenticate(source: source, authorization: authorization, snapshot: directory.snapshot)
            if case .authenticated(let who) = authentication, let authorization {
                lastAuthenticated = (directory.generation, authorization, who)
            }
        }
        var revocation: Revocation?
        switch authentication {
        case .authenticated(let identity):
            request.log[metadataKey: "peer.name"] = "\(identity.peer.name)"
            request.log[metadataKey: "tenant"] = "\(identity.peer.tenantName)"
            request.tenantLabel = identity.peer.tenantName
            request.peerKey = identity.peer.publicKey.rawBytes
            revocation = holdKey(identity)
        case .invalidKey:
            let peer = context.directory.livePeer(at: source)
            request.tenantLabel = peer?.tenantName ?? "unknown"
            request.peerKey = peer?.publicKey.rawBytes
            request.log[metadataKey: "peer.address"] = "\(source)"
        case .unknownPeer:
            break
        }
        let decision = AdmissionPolicy.decide(AdmissionPolicy.Facts(
            authentication: authentication, revocation: revocation, method: head.method, uri: head.uri,
            requestedTier: head.headers.first(name: context.settings.tierHeader), tierHeader: context.settings.tierHeader,
            receiptsAvailable: context.receipts.isAvailable, silentCloseOnAuthFailure: context.settings.silentCloseOnAuthFailure
        ))
        switch decision {
        case .close:
            request.log.info("peer no longer live; closing", metadata: ["peer.address": "\(source)"])
            return (request, .close)
        case .silence:
            request.log.info("request refused silently", metadata: ["peer.address": "\(source)", "reason": "api key"])
            context.metrics.silentClose(.authFailure)
            return (request, .silence)
        case .refuse(let error, let extraHeaders, let receipted):
            request.isReceipted = receipted
            return (request, .refuse(.init(error: error, extraHeaders: extraHeaders)))
        case .admit(let identity, let tier, let route, let receipted):
            request.isReceipted = receipted
            request.log[metadataKey: "tier"] = "\(tier)"
            request.tierLabel = tier.rawValue
            return (request, limited(request, Admission(identity: identity, tier: tier, route: route)))
        }
    }

    /// The key's allowance in its tier, then its peer's streams in flight: the request is admitted
    /// holding one of the peer's stream slots, or refused with a 429.
    private func limited(_ request: Request, _ admission: Admission) -> HTTPConnectionStateMachine.HeadDecision {
        let identity = admission.identity
        let refusal: RateLimitRefusal
        if let limited = context.limiter.admit(apiKey: identity.keyID, tier: admission.tier, own: identity.limits) {
            refusal = limited
        } else if context.streams.acquire(peer: identity.peer.id) {
            return .admit(admission)
        } else {
            refusal = RateLimitRefusal(limit: .streams, allowance: context.streams.limit, retryAfterSeconds: 1)
        }
        context.metrics.rateLimited(tenant: identity.peer.tenantName, tier: request.tierLabel, limit: refusal.limit)
        return .refuse(.init(error: .rateLimited(refusal, tier: admission.tier), extraHeaders: refusal.headers))
    }
}
