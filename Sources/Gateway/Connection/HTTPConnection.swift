import Addressing
import Logging
import NIOCore
import NIOHTTP1
import PopConfig
import Receipts
import Registry

/// Serves the HTTP/1.1 requests of one authenticated-peer connection, one after another: it feeds
/// each event of the connection to its ``HTTPConnectionStateMachine`` and carries out the one
/// action the machine returns. Admission, dispatch, settlement, revocation and drain each have a
/// file of their own beside this one.
///
/// It is the last handler of the connection's pipeline and runs on its event loop: a request is
/// decided in the call that reads its head, and its answer written in the call that reads the
/// worker's (no task, no thread hop). `HTTPServerPipelineHandler` in front of it holds a pipelined
/// request back until the answer before it has ended.
final class HTTPConnection: ChannelInboundHandler, RemovableChannelHandler {
    typealias InboundIn = HTTPServerRequestPart
    typealias OutboundOut = HTTPServerResponsePart

    let source: IPAddress
    let context: GatewayContext
    /// The connection's id in its receipts: requests kept alive on one connection share it.
    let session = RequestID.make()
    var machine: HTTPConnectionStateMachine
    /// The exchange in flight, while the machine is `.proxying`.
    var exchange: ProxyExchange?
    /// The last request's identity on this connection. A kept-alive client sends the same key with
    /// every request, and authentication is a pure function of the header, the source and the
    /// snapshot: while the header and the snapshot's generation are the same, so is the answer.
    var lastAuthenticated: (generation: UInt64, authorization: String, identity: RequestIdentity)?
    /// The connection's place among those a revocation must reach (``PeerDirectory``); nil when its
    /// peer was gone by the time the connection was set up.
    var ticket: RevocationRoster.Ticket?
    /// The API key of the request in flight, while one is: a revocation of that key ends it.
    var heldKeyID: String?

    init(source: IPAddress, context: GatewayContext) {
        self.source = source
        self.context = context
        machine = HTTPConnectionStateMachine(maxBodyBytes: context.settings.maxRequestBodyBytes)
    }

    func handlerAdded(context channelContext: ChannelHandlerContext) {
        enrol(channelContext)
    }

    func handlerRemoved(context channelContext: ChannelHandlerContext) {
        withdraw()
    }

    func channelActive(context channelContext: ChannelHandlerContext) {
        if ticket == nil {
            // Its peer left the snapshot between the accept and the enrolment, so no notice will come for it.
            context.logger.info("peer no longer live; closing", metadata: ["peer.address": "\(source)"])
            return perform(machine.revoked(.revoked(.peer(.revoked)), closing: true), channelContext)
        }
        channelContext.fireChannelActive()
    }

    func channelRead(context channelContext: ChannelHandlerContext, data: NIOAny) {
        switch unwrapInboundIn(data) {
        case .head(let head):
            // A head while a request is still in flight is a protocol error, which the machine closes on: it
            // is not decided (no authentication, no key held for it).
            guard case .idle = machine.state else {
                return perform(machine.head(Request(head: head, logger: context.logger), .close), channelContext)
            }
            let (request, decision) = decide(head)
            perform(machine.head(request, decision), channelContext)
        case .body(let chunk):
            perform(machine.bodyPart(chunk), channelContext)
        case .end:
            perform(machine.end(), channelContext)
        }
    }

    func channelWritabilityChanged(context channelContext: ChannelHandlerContext) {
        perform(machine.writabilityChanged(), channelContext)
        channelContext.fireChannelWritabilityChanged()
    }

    func channelInactive(context channelContext: ChannelHandlerContext) {
        perform(machine.clientClosed(), channelContext)
        channelContext.fireChannelInactive()
    }

    func errorCaught(context channelContext: ChannelHandlerContext, error: any Error) {
        // A malformed request was answered by ProtocolErrorResponder, whose drain holds this close back.
        context.logger.debug("connection ended with an error", metadata: ["error": "\(error)"])
        channelContext.close(promise: nil)
    }

    // MARK: Actions

    func perform(_ action: HTTPConnectionStateMachine.Action, _ channelContext: ChannelHandlerContext) {
        switch action {
        case .none:
            break
        case .sendContinue:
            guard case .reading(let request, _, _) = machine.state else { return }
            let head = HTTPResponseHead(version: request.head.version, status: .continue)
            channelContext.writeAndFlush(NIOAny(HTTPServerResponsePart.head(head)), promise: nil)
        case .refuse(let request, let refusal, let admission, let then):
            if let admission { release(admission, stream: false) }
            refuse(request, refusal, then: then, channelContext)
        case .dispatch(let request, let admission, let body):
            dispatch(request, admission, body: body, channelContext)
        case .release(let admission):
            release(admission, stream: false)
        case .passWritability:
            exchange?.clientWritabilityChanged()
        case .endExchange(let error?):
            exchange?.interrupt(with: error)
        case .endExchange(nil):
            exchange?.clientClosed()
        case .abandon(let request, let status, let admission, let close):
            if let admission { release(admission, stream: false) }
            abandon(request, status: status)
            // A FIN and a drain, not a close: the rest of the body the client is sending must not make
            // the kernel answer with a reset.
            if close {
                releaseHeldKey()
                silence(channelContext)
            }
        case .close:
            releaseHeldKey()
            channelContext.close(promise: nil)
        case .silence:
            releaseHeldKey()
            silence(channelContext)
        case .endAnswer(let continuation):
            endAnswer(continuation, channelContext)
        }
    }

    /// Writes the answer's end (which may hand a pipelined request over at once, so the machine has
    /// moved on already) and goes on as `continuation` says.
    private func endAnswer(_ continuation: HTTPConnectionStateMachine.Continuation, _ channelContext: ChannelHandlerContext) {
        // Before the end is written, which may begin a pipelined request with a key of its own.
        releaseHeldKey()
        let end = NIOAny(HTTPServerResponsePart.end(nil))
        switch continuation {
        case .nextRequest:
            channelContext.writeAndFlush(end, promise: nil)
        case .close:
            let channel = channelContext.channel
            channelContext.writeAndFlush(end).whenComplete { _ in channel.close(promise: nil) }
        case .silence:
            channelContext.writeAndFlush(end, promise: nil)
            silence(channelContext)
        case .cut:
            channelContext.close(promise: nil)
        }
    }

    /// FIN now, then what the client still sends is read and dropped (``SilentCloseHandler``), so
    /// unread bytes never make the kernel reset the connection and destroy an answer not yet read.
    private func silence(_ channelContext: ChannelHandlerContext) {
        let handler = machine.draining ? ConnectionDrain.closeHandler() : SilentCloseHandler()
        try? channelContext.pipeline.syncOperations.addHandler(handler, position: .first)
    }

    /// The request's stream slot is given back.
    func release(_ admission: Admission, stream: Bool) {
        context.streams.release(peer: admission.identity.peer.id)
        if stream { context.metrics.streamEnded() }
    }
}
