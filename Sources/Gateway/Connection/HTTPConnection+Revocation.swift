import Addressing
import Logging
import NIOCore
import NIOHTTP1
import PopConfig
import Receipts
import Registry

/// How a registry change reaches this connection (``PeerDirectory``): the connection is enrolled
/// while it is open, and holds the key of its request in flight, so that revoking the peer or that
/// key ends what is in flight at once.
extension HTTPConnection {
    func enrol(_ channelContext: ChannelHandlerContext) {
        let connection = NIOLoopBound(self, eventLoop: channelContext.eventLoop)
        let boundContext = NIOLoopBound(channelContext, eventLoop: channelContext.eventLoop)
        let loop = channelContext.eventLoop
        ticket = context.directory.enroll(address: source) { revocation in
            loop.execute { connection.value.revoked(revocation, boundContext.value) }
        }
    }

    func withdraw() {
        if let ticket { context.directory.withdraw(ticket) }
        ticket = nil
    }

    /// Holds the request's key with the directory, so that its revocation reaches the request; or
    /// the revocation that came before.
    func holdKey(_ identity: RequestIdentity) -> Revocation? {
        guard let ticket else { return .peer(.revoked) }
        if let revocation = context.directory.admit(ticket, identity) { return revocation }
        heldKeyID = identity.keyID
        return nil
    }

    /// The request's key is no longer held: its revocation no longer concerns this connection.
    func releaseHeldKey() {
        if heldKeyID != nil, let ticket { context.directory.release(ticket) }
        heldKeyID = nil
    }

    /// The registry took away this connection's peer, or the key of its request in flight. What is
    /// in flight ends now: a stream with an error event and its proper end, an answer not begun with
    /// a 401 (``OpenAIError/revoked(_:)``), each with its receipt. A revoked peer's connection is then
    /// closed by the gateway, so it ends with a FIN and a log line that says why; a request of its
    /// still being read ends with the connection, receipted as closed without an answer (444).
    func revoked(_ revocation: Revocation, _ channelContext: ChannelHandlerContext) {
        // A key's notice may arrive after its request ended and the next, with another key, began.
        if case .key(let keyID) = revocation, keyID != heldKeyID { return }
        let closing: Bool
        switch revocation {
        case .peer(let ending):
            closing = true
            context.logger.info(
                "peer \(ending.rawValue); closing its connection",
                metadata: ["peer.address": "\(source)", "connection.state": "\(machine.state.name)"]
            )
        case .key:
            closing = false
            context.logger.info("api key revoked; ending the request in flight", metadata: ["peer.address": "\(source)"])
        }
        perform(machine.revoked(.revoked(revocation), closing: closing), channelContext)
    }
}

extension HTTPConnectionStateMachine.State {
    /// The state's name, for the log.
    var name: String {
        switch self {
        case .idle: "idle"
        case .refusing: "refusing"
        case .reading: "reading request"
        case .dispatching: "dispatching"
        case .proxying: "answering"
        case .readingReceipts: "reading receipts"
        case .answering: "answering"
        case .closed: "closed"
        }
    }
}
