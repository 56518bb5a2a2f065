@testable import Gateway
import Logging
import NIOCore
import NIOHTTP1
import Registry
import Testing

/// ``HTTPConnectionStateMachine`` with no channel: every state × event, each asserted on the action
/// returned and the state left, then the paths a request takes through it.
@Suite struct HTTPConnectionStateMachineTests {
    typealias Machine = HTTPConnectionStateMachine

    static let maxBody = 64

    // MARK: Values

    static func request(_ method: HTTPMethod = .POST, headers: HTTPHeaders = [:], version: HTTPVersion = .http1_1) -> HTTPConnection.Request {
        HTTPConnection.Request(
            head: HTTPRequestHead(version: version, method: method, uri: "/v1/chat/completions", headers: headers),
            logger: Logger(label: "test") { _ in SwiftLogNoOpLogHandler() }
        )
    }

    static var admission: HTTPConnection.Admission {
        HTTPConnection.Admission(
            identity: RequestIdentity(peer: RevokedEntriesTests.laptop, keyID: "aaaaaaaaaaaaaaaa", defaultTier: .fast, keySecretHash: []),
            tier: .fast, route: .modelRouted(path: "/v1/chat/completions")
        )
    }
    static let refusal = Machine.Refusal(error: .notFound(path: "/nowhere"))
    static let revokedError = OpenAIError.revoked(.key("aaaaaaaaaaaaaaaa"))
    static let drainError = OpenAIError(status: .serviceUnavailable, message: "restarting", code: "server_shutting_down")

    /// An action as a value `#expect` compares and prints.
    enum Did: Equatable {
        case none, sendContinue, passWritability, close, silence
        case refuse(UInt, releasing: Bool, then: Machine.Continuation)
        case dispatch(bodyBytes: Int)
        case release
        case endExchange(UInt?)
        case abandon(UInt, releasing: Bool, close: Bool)
        case endAnswer(Machine.Continuation)

        init(_ action: Machine.Action) {
            switch action {
            case .none: self = .none
            case .sendContinue: self = .sendContinue
            case .refuse(_, let refusal, let admission, let then):
                self = .refuse(refusal.error.status.code, releasing: admission != nil, then: then)
            case .dispatch(_, _, let body): self = .dispatch(bodyBytes: body.readableBytes)
            case .release: self = .release
            case .passWritability: self = .passWritability
            case .endExchange(let error): self = .endExchange(error?.status.code)
            case .abandon(_, let status, let admission, let close): self = .abandon(status, releasing: admission != nil, close: close)
            case .close: self = .close
            case .silence: self = .silence
            case .endAnswer(let continuation): self = .endAnswer(continuation)
            }
        }
    }

    enum StateName: String, CaseIterable, CustomStringConvertible {
        case idle, refusing, reading, dispatching, proxying, readingReceipts, answering, closed
        var description: String { rawValue }
    }

    static func name(_ state: Machine.State) -> StateName {
        switch state {
        case .idle: .idle
        case .refusing: .refusing
        case .reading: .reading
        case .dispatching: .dispatching
        case .proxying: .proxying
        case .readingReceipts: .readingReceipts
        case .answering: .answering
        case .closed: .closed
        }
    }

    /// A machine driven into `state` by the events that lead there.
    static func machine(in state: StateName) -> Machine {
        var machine = Machine(maxBodyBytes: maxBody)
        switch state {
        case .idle:
            break
        case .refusing:
            _ = machine.head(request(), .refuse(refusal))
        case .reading:
            _ = machine.head(request(), .admit(admission))
        case .dispatching, .proxying, .readingReceipts, .answering:
            _ = machine.head(request(), .admit(admission))
            _ = machine.end()
            switch state {
            case .proxying: _ = machine.exchangeStarted()
            case .readingReceipts: _ = machine.readingReceipts()
            case .answering: _ = machine.answeredByGateway()
            default: break
            }
        case .closed:
            _ = machine.head(request(), .close)
        }
        #expect(name(machine.state) == state, "driving into \(state)")
        return machine
    }

    enum Event: String, CaseIterable, CustomStringConvertible {
        case head, bodyPart, end, exchangeStarted, dispatchRefused, answeredByGateway, readingReceipts, receiptsRead
        case receiptsFailed, answerWritten, exchangeEnded, writabilityChanged, clientClosed, peerRevoked, keyRevoked
        case drain, drainTimedOut
        var description: String { rawValue }

        func send(to machine: inout Machine) -> Machine.Action {
            switch self {
            case .head: machine.head(HTTPConnectionStateMachineTests.request(), .admit(admission))
            case .bodyPart: machine.bodyPart(ByteBuffer(string: "{}"))
            case .end: machine.end()
            case .exchangeStarted: machine.exchangeStarted()
            case .dispatchRefused: machine.dispatchRefused(refusal)
            case .answeredByGateway: machine.answeredByGateway()
            case .readingReceipts: machine.readingReceipts()
            case .receiptsRead: machine.receiptsRead()
            case .receiptsFailed: machine.receiptsFailed(refusal)
            case .answerWritten: machine.answerWritten(.nextRequest)
            case .exchangeEnded: machine.exchangeEnded(.nextRequest)
            case .writabilityChanged: machine.writabilityChanged()
            case .clientClosed: machine.clientClosed()
            case .peerRevoked: machine.revoked(revokedError, closing: true)
            case .keyRevoked: machine.revoked(revokedError, closing: false)
            case .drain: machine.drain()
            case .drainTimedOut: machine.drainTimedOut(drainError)
            }
        }
    }

    // MARK: Every state × event

    /// What each event does in each state: the action, and the state it leaves (events missing from a
    /// state's row do nothing and leave it where it is).
    static let table: [StateName: [Event: (Did, StateName)]] = [
        .idle: [
            .head: (.none, .reading),
            .bodyPart: (.close, .closed),
            .end: (.close, .closed),
            .clientClosed: (.none, .closed),
            .peerRevoked: (.close, .closed),
            .drain: (.silence, .closed),
            .drainTimedOut: (.silence, .closed),
        ],
        .refusing: [
            .head: (.abandon(444, releasing: false, close: true), .closed),
            .end: (.refuse(404, releasing: false, then: .nextRequest), .answering),
            .clientClosed: (.abandon(499, releasing: false, close: false), .closed),
            .peerRevoked: (.abandon(444, releasing: false, close: true), .closed),
            .drainTimedOut: (.abandon(444, releasing: false, close: true), .closed),
        ],
        .reading: [
            .head: (.abandon(444, releasing: true, close: true), .closed),
            .end: (.dispatch(bodyBytes: 0), .dispatching),
            .clientClosed: (.abandon(499, releasing: true, close: false), .closed),
            .peerRevoked: (.abandon(444, releasing: true, close: true), .closed),
            .keyRevoked: (.release, .refusing),
            .drainTimedOut: (.abandon(444, releasing: true, close: true), .closed),
        ],
        .dispatching: [
            .head: (.close, .closed),
            .exchangeStarted: (.none, .proxying),
            .dispatchRefused: (.refuse(404, releasing: true, then: .nextRequest), .answering),
            .answeredByGateway: (.release, .answering),
            .readingReceipts: (.release, .readingReceipts),
            .clientClosed: (.abandon(499, releasing: true, close: false), .closed),
        ],
        .proxying: [
            .head: (.close, .closed),
            .exchangeEnded: (.endAnswer(.nextRequest), .idle),
            .writabilityChanged: (.passWritability, .proxying),
            // The exchange settles it; its end then finds the connection closed.
            .clientClosed: (.endExchange(nil), .proxying),
            .peerRevoked: (.endExchange(401), .proxying),
            .keyRevoked: (.endExchange(401), .proxying),
            .drainTimedOut: (.endExchange(503), .proxying),
        ],
        .readingReceipts: [
            .head: (.close, .closed),
            .receiptsRead: (.endAnswer(.nextRequest), .idle),
            .receiptsFailed: (.refuse(404, releasing: false, then: .nextRequest), .answering),
            .clientClosed: (.abandon(499, releasing: false, close: false), .closed),
            .peerRevoked: (.refuse(401, releasing: false, then: .close), .answering),
            .keyRevoked: (.refuse(401, releasing: false, then: .close), .answering),
            .drainTimedOut: (.refuse(503, releasing: false, then: .close), .answering),
        ],
        .answering: [
            .head: (.close, .closed),
            .answerWritten: (.endAnswer(.nextRequest), .idle),
            .clientClosed: (.none, .closed),
        ],
        .closed: [
            .head: (.close, .closed),
        ],
    ]

    static let pairs: [(StateName, Event)] = StateName.allCases.flatMap { state in Event.allCases.map { (state, $0) } }

    @Test(arguments: pairs)
    func everyEventInEveryState(_ state: StateName, _ event: Event) {
        var machine = Self.machine(in: state)
        let action = event.send(to: &machine)
        let (expected, next) = Self.table[state]?[event] ?? (.none, state)
        #expect(Did(action) == expected, "\(state) × \(event)")
        #expect(Self.name(machine.state) == next, "\(state) × \(event)")
    }

    // MARK: Paths

    @Test func aKeptAliveRequestGoesBackToIdleAndOneThatAsksToCloseCloses() {
        var machine = Machine(maxBodyBytes: Self.maxBody)
        _ = machine.head(Self.request(), .admit(Self.admission))
        #expect(Did(machine.bodyPart(ByteBuffer(string: "{\"model\":\"m\"}"))) == .none)
        #expect(Did(machine.end()) == .dispatch(bodyBytes: 13))
        _ = machine.exchangeStarted()
        #expect(Did(machine.exchangeEnded(.nextRequest)) == .endAnswer(.nextRequest))
        #expect(Self.name(machine.state) == .idle)

        _ = machine.head(Self.request(headers: ["Connection": "close"]), .refuse(Self.refusal))
        #expect(Did(machine.end()) == .refuse(404, releasing: false, then: .close))
        #expect(Did(machine.answerWritten(.nextRequest)) == .endAnswer(.close))
        #expect(Self.name(machine.state) == .closed)
    }

    @Test func aBodyPastTheLimitIsRefusedAtOnceAndTheRestDrained() {
        var machine = Self.machine(in: .reading)
        #expect(Did(machine.bodyPart(ByteBuffer(repeating: 0x41, count: Self.maxBody + 1))) == .refuse(413, releasing: true, then: .silence))
        #expect(Did(machine.answerWritten(.silence)) == .endAnswer(.silence))
        // A refused body that never ends is given up once past the limit.
        var refusing = Self.machine(in: .refusing)
        #expect(Did(refusing.bodyPart(ByteBuffer(repeating: 0x41, count: Self.maxBody + 1))) == .abandon(444, releasing: false, close: true))
    }

    @Test func expectContinueIsAnsweredOrRefusedAtOnce() {
        var admitted = Machine(maxBodyBytes: Self.maxBody)
        #expect(Did(admitted.head(Self.request(headers: ["Expect": "100-continue"]), .admit(Self.admission))) == .sendContinue)
        var refused = Machine(maxBodyBytes: Self.maxBody)
        #expect(Did(refused.head(Self.request(headers: ["Expect": "100-Continue"]), .refuse(Self.refusal)))
            == .refuse(404, releasing: false, then: .silence))
        #expect(Self.name(refused.state) == .answering)
    }

    @Test func whileDrainingAnAnswerIsTheConnectionsLast() {
        var machine = Self.machine(in: .proxying)
        #expect(Did(machine.drain()) == .none)
        #expect(Did(machine.exchangeEnded(.nextRequest)) == .endAnswer(.silence))
        var refusing = Self.machine(in: .refusing)
        _ = refusing.drain()
        #expect(Did(refusing.end()) == .refuse(404, releasing: false, then: .silence))
    }

    @Test func anExchangeThatCutItsBodyClosesWithoutTheEnd() {
        var machine = Self.machine(in: .proxying)
        #expect(Did(machine.exchangeEnded(.cut)) == .endAnswer(.cut))
        #expect(Self.name(machine.state) == .closed)
    }

    @Test func theModelReadIsWhatARefusalsReceiptNames() {
        var machine = Self.machine(in: .dispatching)
        var named = Self.request()
        named.model = "popgate-sim-small"
        machine.modelRead(named)
        guard case .refuse(let request, _, _, _) = machine.dispatchRefused(Self.refusal) else {
            Issue.record("not refused")
            return
        }
        #expect(request.model == "popgate-sim-small")
    }
}
