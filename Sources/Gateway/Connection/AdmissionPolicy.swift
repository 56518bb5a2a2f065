import Foundation
import NIOHTTP1
import PopConfig
import Registry

/// What becomes of a request, decided from its head alone: authentication, the registry's word on
/// its key, the route, the receipt log, the tier, then the limits. Pure: the facts are gathered by
/// the connection, which acts on the decision.
enum AdmissionPolicy {
    enum Decision: Equatable {
        /// Let through to its body: it then holds one of its peer's stream slots.
        case admit(RequestIdentity, Tier, ProxyRoute, receipted: Bool)
        /// Refused; the refusal is answered once the body is read (or at once, to a client that waits
        /// for `100 Continue` before sending it).
        case refuse(OpenAIError, extraHeaders: HTTPHeaders = [:], receipted: Bool = true)
        /// The peer is no longer live: the connection closes with nothing more sent.
        case close
        /// A bad key under `silent_close_on_auth_failure`: the same silence a non-peer gets.
        case silence
    }

    /// What the connection knows of a request's head when it decides.
    struct Facts {
        var authentication: AuthenticationResult
        /// The directory's answer when the authenticated key is admitted (nil: still good).
        var revocation: Revocation?
        var method: HTTPMethod
        var uri: String
        /// The value of the tier header, if the request sent one.
        var requestedTier: String?
        var tierHeader: String
        var receiptsAvailable: Bool
        var silentCloseOnAuthFailure: Bool
    }

    /// Everything but the limits, which take from shared allowances and so come last (``limited(_:tier:)``).
    static func decide(_ facts: Facts) -> Decision {
        let identity: RequestIdentity
        switch facts.authentication {
        case .unknownPeer:
            return .close
        case .invalidKey(let reason):
            return facts.silentCloseOnAuthFailure ? .silence : .refuse(.invalidAPIKey(reason))
        case .authenticated(let who):
            identity = who
        }
        switch facts.revocation {
        case .peer?:
            return .close
        case .key?:
            // As the same key is refused once the snapshot is replaced, silence included.
            return facts.silentCloseOnAuthFailure ? .silence : .refuse(.invalidAPIKey("Incorrect API key provided."))
        case nil:
            break
        }
        if facts.method == .CONNECT { return .refuse(.connectNotSupported, extraHeaders: ["Allow": "GET, POST"]) }
        let route: ProxyRoute
        switch ProxyRoute.resolve(method: facts.method, uri: facts.uri) {
        case .failure(let error): return .refuse(error)
        case .success(let resolved): route = resolved
        }
        // Reading the log does not add to it: a client polling for its receipt would otherwise never
        // see the log settle. Anything else is served only with a receipt.
        let receipted: Bool
        if case .receipts = route {
            receipted = false
        } else if !facts.receiptsAvailable {
            return .refuse(.receiptsUnavailable, extraHeaders: ["Retry-After": "1"], receipted: false)
        } else {
            receipted = true
        }
        guard let requested = facts.requestedTier else { return .admit(identity, identity.defaultTier, route, receipted: receipted) }
        guard let tier = Tier(rawValue: requested.trimmingCharacters(in: .whitespaces).lowercased()) else {
            return .refuse(.unknownTier(requested, header: facts.tierHeader), receipted: receipted)
        }
        return .admit(identity, tier, route, receipted: receipted)
    }
}
