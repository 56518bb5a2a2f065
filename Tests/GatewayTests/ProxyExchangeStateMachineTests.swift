import Foundation
@testable import Gateway
import NIOCore
import NIOHTTP1
import Testing

/// ``ProxyExchangeStateMachine`` with no channel: first every state × event, each asserted on the
/// action returned and the state left, then the paths a request takes through it.
@Suite struct ProxyExchangeStateMachineTests {
    typealias Machine = ProxyExchangeStateMachine

    // MARK: Values to compare

    /// An action as a value `#expect` can compare and print: its bytes as text, its settlement
    /// field by field.
    enum Did: Equatable, Sendable, CustomStringConvertible {
        case connect(backend: Int, fresh: Bool)
        case failOver(failed: Int, next: Int)
        case sendRequest(backend: Int)
        case closeConnection
        case forwardHead(UInt, backend: Int)
        case forward(String)
        case flush
        case setWorkerReading(Bool)
        case settle(Settled)
        case none

        init(_ action: Machine.Action) {
            switch action {
            case .connect(let backend, let fresh): self = .connect(backend: backend, fresh: fresh)
            case .failOver(let failed, let next): self = .failOver(failed: failed, next: next)
            case .sendRequest(let backend): self = .sendRequest(backend: backend)
            case .closeConnection: self = .closeConnection
            case .forwardHead(let status, let backend): self = .forwardHead(status.code, backend: backend)
            case .forward(let bytes): self = .forward(String(buffer: bytes))
            case .flush: self = .flush
            case .setWorkerReading(let reading): self = .setWorkerReading(reading)
            case .settle(let settlement): self = .settle(Settled(settlement))
            case .none: self = .none
            }
        }

        var description: String {
            switch self {
            case .connect(let backend, let fresh): "connect(\(backend), fresh: \(fresh))"
            case .failOver(let failed, let next): "failOver(\(failed) → \(next))"
            case .sendRequest(let backend): "sendRequest(\(backend))"
            case .closeConnection: "closeConnection"
            case .forwardHead(let status, let backend): "forwardHead(\(status), \(backend))"
            case .forward(let text): "forward(\(text.debugDescription))"
            case .flush: "flush"
            case .setWorkerReading(let reading): "setWorkerReading(\(reading))"
            case .settle(let settled): "settle(\(settled))"
            case .none: "none"
            }
        }
    }

    /// A ``ProxyExchangeStateMachine/Settlement`` with every field compared; the initialiser has no
    /// defaults, so every expectation spells out all of them.
    struct Settled: Equatable, Sendable {
        var status: UInt
        var backend: Int?
        var usage: Machine.Usage?
        var remainder: String?
        var end: Machine.Settlement.AnswerEnd
        var attempt: Machine.Settlement.Attempt?
        var abandonsWorker: Bool

        init(
            status: UInt, backend: Int?, usage: Machine.Usage?, remainder: String?, end: Machine.Settlement.AnswerEnd,
            attempt: Machine.Settlement.Attempt?, abandonsWorker: Bool
        ) {
            self.status = status
            self.backend = backend
            self.usage = usage
            self.remainder = remainder
            self.end = end
            self.attempt = attempt
            self.abandonsWorker = abandonsWorker
        }

        init(_ settlement: Machine.Settlement) {
            self.init(
                status: settlement.status, backend: settlement.backend, usage: settlement.usage,
                remainder: settlement.remainder.map { String(buffer: $0) }, end: settlement.end,
                attempt: settlement.attempt, abandonsWorker: settlement.abandonsWorker
            )
        }
    }

    /// A state as a value: the relay's meter is summed up by whether it reads an event stream.
    enum Phase: Equatable, Sendable {
        case initial
        case connecting(candidate: Int, retried: Bool)
        case awaitingHead(candidate: Int, retried: Bool)
        case relaying(backend: Int, status: UInt, clientWritable: Bool, stream: Bool)
        case settled

        init(_ state: Machine.State) {
            switch state {
            case .initial: self = .initial
            case .connecting(let attempt):
                self = .connecting(candidate: attempt.candidate, retried: attempt.retriedIdleConnection)
            case .awaitingHead(let attempt):
                self = .awaitingHead(candidate: attempt.candidate, retried: attempt.retriedIdleConnection)
            case .relaying(let relay):
                self = .relaying(
                    backend: relay.backend, status: relay.status.code, clientWritable: relay.clientWritable,
                    stream: relay.meter.isEventStream
                )
            case .settled: self = .settled
            }
        }
    }

    /// One event, with its argument.
    enum Event: Sendable, CustomStringConvertible {
        case start
        case connected
        case connectFailed
        case workerResponded(HTTPResponseStatus, isEventStream: Bool)
        case workerSent(String)
        case workerReadComplete
        case workerFinished
        case workerFailed(Machine.WorkerFailure)
        case clientWritabilityChanged(Bool)
        case clientClosed
        case interrupt(OpenAIError)

        func apply(to machine: inout Machine) -> Machine.Action {
            switch self {
            case .start: machine.start()
            case .connected: machine.connected()
            case .connectFailed: machine.connectFailed()
            case .workerResponded(let status, let isEventStream):
                machine.workerResponded(status: status, isEventStream: isEventStream)
            case .workerSent(let text): machine.workerSent(ByteBuffer(string: text))
            case .workerReadComplete: machine.workerReadComplete()
            case .workerFinished: machine.workerFinished()
            case .workerFailed(let failure): machine.workerFailed(failure)
            case .clientWritabilityChanged(let writable): machine.clientWritabilityChanged(writable)
            case .clientClosed: machine.clientClosed()
            case .interrupt(let error): machine.interrupt(with: error)
            }
        }

        /// The event's kind; the three failures are told apart, the other arguments are not.
        var description: String {
            switch self {
            case .start: "start"
            case .connected: "connected"
            case .connectFailed: "connectFailed"
            case .workerResponded: "workerResponded"
            case .workerSent: "workerSent"
            case .workerReadComplete: "workerReadComplete"
            case .workerFinished: "workerFinished"
            case .workerFailed(.silent): "workerFailed(.silent)"
            case .workerFailed(.broken(let earlier)): "workerFailed(.broken(afterEarlierAnswers: \(earlier)))"
            case .clientWritabilityChanged: "clientWritabilityChanged"
            case .clientClosed: "clientClosed"
            case .interrupt: "interrupt"
            }
        }
    }

    // MARK: Fixtures

    /// Backend indexes unlike the candidates' positions, so a mix-up of the two shows.
    static let candidates = [
        Machine.Candidate(backend: 3, name: "alpha"),
        Machine.Candidate(backend: 7, name: "beta"),
        Machine.Candidate(backend: 9, name: "gamma"),
    ]
    static let revoked = OpenAIError.revoked(.key("key-1"))

    static func chunk(_ content: String) -> String {
        #"data: {"id":"c1","object":"chat.completion.chunk","choices":[{"index":0,"delta":{"content":"\#(content)"}}]}"#
            + "\n\n"
    }
    /// The first chunk of a chat stream: a role and empty content, no piece of text.
    static let roleChunk =
        #"data: {"id":"c1","object":"chat.completion.chunk","choices":[{"index":0,"delta":{"role":"assistant","content":""}}]}"#
        + "\n\n"
    /// The chunk `include_usage` adds.
    static let usageChunk =
        #"data: {"id":"c1","object":"chat.completion.chunk","choices":[],"usage":{"prompt_tokens":12,"completion_tokens":7,"total_tokens":19}}"#
        + "\n\n"
    static let done = "data: [DONE]\n\n"

    /// A chunk as vLLM sends it with `continuous_usage_stats`: the usage so far in every chunk.
    static func continuousChunk(_ content: String, prompt: Int, completion: Int) -> String {
        #"data: {"id":"c1","object":"chat.completion.chunk","choices":[{"index":0,"delta":{"content":"\#(content)"}}],"#
            + #""usage":{"prompt_tokens":\#(prompt),"total_tokens":\#(prompt + completion),"#
            + #""completion_tokens":\#(completion)}}"#
            + "\n\n"
    }

    /// A whole JSON answer, sent in two pieces with the usage in the second.
    static let bodyPieces = [
        #"{"id":"x","object":"chat.completion","choices":[{"index":0,"message":{"role":"assistant","content":"Hi"}}],"#,
        #""usage":{"prompt_tokens":5,"completion_tokens":2,"total_tokens":7}}"#,
    ]

    // MARK: Driving a machine into each state

    /// Where the table's rows start.
    enum Situation: String, CaseIterable, Sendable {
        case initial, connecting, awaitingHead
        /// Relaying a stream from candidate 0 (backend 3) that has relayed the role chunk and two pieces of text.
        case relayingStream
        /// Relaying a JSON body from candidate 0 (backend 3), all of which (usage included) has arrived but its end.
        case relayingBody
        /// Settled by the client's leaving mid-stream.
        case settled

        var phase: Phase {
            switch self {
            case .initial: .initial
            case .connecting: .connecting(candidate: 0, retried: false)
            case .awaitingHead: .awaitingHead(candidate: 0, retried: false)
            case .relayingStream: .relaying(backend: 3, status: 200, clientWritable: true, stream: true)
            case .relayingBody: .relaying(backend: 3, status: 200, clientWritable: true, stream: false)
            case .settled: .settled
            }
        }

        var machine: Machine {
            typealias Tests = ProxyExchangeStateMachineTests
            var machine = Machine(candidates: Tests.candidates)
            switch self {
            case .initial: break
            case .connecting: _ = machine.start()
            case .awaitingHead: Tests.awaitHead(&machine)
            case .relayingStream:
                Tests.relay(&machine, stream: true, sending: [Tests.roleChunk, Tests.chunk("Hel"), Tests.chunk("lo")])
            case .relayingBody: Tests.relay(&machine, stream: false, sending: Tests.bodyPieces)
            case .settled:
                machine = Situation.relayingStream.machine
                _ = machine.clientClosed()
            }
            return machine
        }
    }

    /// Started and connected: the request is out to `machine`'s first candidate.
    static func awaitHead(_ machine: inout Machine) {
        _ = machine.start()
        _ = machine.connected()
    }

    /// The first candidate answered 200 and `pieces` of its body were relayed; returns what went on to the client.
    @discardableResult
    static func relay(
        _ machine: inout Machine, status: HTTPResponseStatus = .ok, stream: Bool, sending pieces: [String]
    ) -> String {
        awaitHead(&machine)
        _ = machine.workerResponded(status: status, isEventStream: stream)
        return send(pieces, to: &machine)
    }

    /// What went on to the client for `pieces`.
    static func send(_ pieces: [String], to machine: inout Machine) -> String {
        var forwarded = ""
        for piece in pieces {
            switch Did(machine.workerSent(ByteBuffer(string: piece))) {
            case .forward(let text): forwarded += text
            case .none: break
            case let other: Issue.record("workerSent gave \(other)")
            }
        }
        return forwarded
    }

    // MARK: Every state × event

    struct Row: Sendable, CustomTestStringConvertible {
        let from: Situation
        let event: Event
        let action: Did
        let to: Phase
        var testDescription: String { "\(from.rawValue) + \(event) → \(action)" }
    }

    /// The events of one row each: the three ways a worker connection fails are three events here.
    static let head = Event.workerResponded(.ok, isEventStream: true)
    static let sent = Event.workerSent(chunk("!"))
    static let silent = Event.workerFailed(.silent)
    static let broken = Event.workerFailed(.broken(afterEarlierAnswers: false))
    static let brokenAfterAnswers = Event.workerFailed(.broken(afterEarlierAnswers: true))
    static let full = Event.clientWritabilityChanged(false)
    static let interrupted = Event.interrupt(revoked)
    static let allEvents: [Event] = [
        .start, .connected, .connectFailed, head, sent, .workerReadComplete, .workerFinished, silent, broken,
        brokenAfterAnswers, full, .clientClosed, interrupted,
    ]

    /// `rows` of `situation`, and a `.none` that leaves the state as it was for each of `ignored`.
    static func rows(_ situation: Situation, ignoring ignored: [Event], _ rows: [(Event, Did, Phase)]) -> [Row] {
        rows.map { Row(from: situation, event: $0.0, action: $0.1, to: $0.2) }
            + ignored.map { Row(from: situation, event: $0, action: .none, to: situation.phase) }
    }

    static let failedMidStream = OpenAIError.backendFailedMidStream

    static let table: [Row] =
        rows(.initial, ignoring: [
            .connectFailed, head, sent, .workerReadComplete, .workerFinished, silent, broken, brokenAfterAnswers, full,
        ], [
            (.start, .connect(backend: 3, fresh: false), .connecting(candidate: 0, retried: false)),
            (.connected, .closeConnection, .initial),
            (.clientClosed, .settle(Settled(
                status: 499, backend: nil, usage: nil, remainder: nil, end: .clientGone, attempt: nil,
                abandonsWorker: false
            )), .settled),
            (interrupted, .settle(Settled(
                status: 401, backend: nil, usage: nil, remainder: nil, end: .gatewayAnswer(revoked, keepAlive: false),
                attempt: nil, abandonsWorker: false
            )), .settled),
        ])
        + rows(.connecting, ignoring: [
            .start, head, sent, .workerReadComplete, .workerFinished, silent, broken, brokenAfterAnswers, full,
        ], [
            (.connected, .sendRequest(backend: 3), .awaitingHead(candidate: 0, retried: false)),
            (.connectFailed, .failOver(failed: 3, next: 7), .connecting(candidate: 1, retried: false)),
            (.clientClosed, .settle(Settled(
                status: 499, backend: nil, usage: nil, remainder: nil, end: .clientGone, attempt: .ended(backend: 3),
                abandonsWorker: true
            )), .settled),
            (interrupted, .settle(Settled(
                status: 401, backend: nil, usage: nil, remainder: nil, end: .gatewayAnswer(revoked, keepAlive: false),
                attempt: .ended(backend: 3), abandonsWorker: true
            )), .settled),
        ])
        + rows(.awaitingHead, ignoring: [.start, .connectFailed, sent, .workerReadComplete, .workerFinished, full], [
            (.connected, .closeConnection, .awaitingHead(candidate: 0, retried: false)),
            (head, .forwardHead(200, backend: 3), Situation.relayingStream.phase),
            (silent, .failOver(failed: 3, next: 7), .connecting(candidate: 1, retried: false)),
            (broken, .failOver(failed: 3, next: 7), .connecting(candidate: 1, retried: false)),
            (brokenAfterAnswers, .connect(backend: 3, fresh: true), .connecting(candidate: 0, retried: true)),
            (.clientClosed, .settle(Settled(
                status: 499, backend: nil, usage: nil, remainder: nil, end: .clientGone, attempt: .ended(backend: 3),
                abandonsWorker: true
            )), .settled),
            (interrupted, .settle(Settled(
                status: 401, backend: nil, usage: nil, remainder: nil, end: .gatewayAnswer(revoked, keepAlive: false),
                attempt: .ended(backend: 3), abandonsWorker: true
            )), .settled),
        ])
        + rows(.relayingStream, ignoring: [.start, .connectFailed, head], [
            (.connected, .closeConnection, Situation.relayingStream.phase),
            (sent, .forward(chunk("!")), Situation.relayingStream.phase),
            (.workerReadComplete, .flush, Situation.relayingStream.phase),
            (.workerFinished, .settle(Settled(
                status: 200, backend: 3, usage: .counted(TokenUsage(prompt: 0, completion: 2)), remainder: nil,
                end: .whole, attempt: .ended(backend: 3), abandonsWorker: false
            )), .settled),
            (silent, .settle(Settled(
                status: 502, backend: 3, usage: .counted(TokenUsage(prompt: 0, completion: 2)), remainder: nil,
                end: .streamError(lastEvent: failedMidStream.event), attempt: .failed(backend: 3), abandonsWorker: false
            )), .settled),
            (broken, .settle(Settled(
                status: 502, backend: 3, usage: .counted(TokenUsage(prompt: 0, completion: 2)), remainder: nil,
                end: .streamError(lastEvent: failedMidStream.event), attempt: .failed(backend: 3), abandonsWorker: false
            )), .settled),
            (brokenAfterAnswers, .settle(Settled(
                status: 502, backend: 3, usage: .counted(TokenUsage(prompt: 0, completion: 2)), remainder: nil,
                end: .streamError(lastEvent: failedMidStream.event), attempt: .failed(backend: 3), abandonsWorker: false
            )), .settled),
            (full, .setWorkerReading(false), .relaying(backend: 3, status: 200, clientWritable: false, stream: true)),
            (.clientClosed, .settle(Settled(
                status: 499, backend: 3, usage: .counted(TokenUsage(prompt: 0, completion: 2)), remainder: nil,
                end: .clientGone, attempt: .ended(backend: 3), abandonsWorker: true
            )), .settled),
            (interrupted, .settle(Settled(
                status: 401, backend: 3, usage: .counted(TokenUsage(prompt: 0, completion: 2)), remainder: nil,
                end: .streamError(lastEvent: revoked.event), attempt: .ended(backend: 3), abandonsWorker: true
            )), .settled),
        ])
        + rows(.relayingBody, ignoring: [.start, .connectFailed, head], [
            (.connected, .closeConnection, Situation.relayingBody.phase),
            (sent, .forward(chunk("!")), Situation.relayingBody.phase),
            (.workerReadComplete, .flush, Situation.relayingBody.phase),
            (.workerFinished, .settle(Settled(
                status: 200, backend: 3, usage: .reported(TokenUsage(prompt: 5, completion: 2)), remainder: nil,
                end: .whole, attempt: .ended(backend: 3), abandonsWorker: false
            )), .settled),
            (silent, .settle(Settled(
                status: 502, backend: 3, usage: nil, remainder: nil, end: .cut, attempt: .failed(backend: 3),
                abandonsWorker: false
            )), .settled),
            (broken, .settle(Settled(
                status: 502, backend: 3, usage: nil, remainder: nil, end: .cut, attempt: .failed(backend: 3),
                abandonsWorker: false
            )), .settled),
            (brokenAfterAnswers, .settle(Settled(
                status: 502, backend: 3, usage: nil, remainder: nil, end: .cut, attempt: .failed(backend: 3),
                abandonsWorker: false
            )), .settled),
            (full, .setWorkerReading(false), .relaying(backend: 3, status: 200, clientWritable: false, stream: false)),
            (.clientClosed, .settle(Settled(
                status: 499, backend: 3, usage: nil, remainder: nil, end: .clientGone, attempt: .ended(backend: 3),
                abandonsWorker: true
            )), .settled),
            (interrupted, .settle(Settled(
                status: 401, backend: 3, usage: nil, remainder: nil, end: .cut, attempt: .ended(backend: 3),
                abandonsWorker: true
            )), .settled),
        ])
        + rows(.settled, ignoring: [
            .start, .connectFailed, head, sent, .workerReadComplete, .workerFinished, silent, broken,
            brokenAfterAnswers, full, .clientClosed, interrupted,
        ], [
            (.connected, .closeConnection, .settled),
        ])

    @Test func theTableHasEveryStateAndEventOnce() {
        let pairs = Self.table.map { "\($0.from.rawValue) + \($0.event)" }
        let every = Situation.allCases.flatMap { situation in Self.allEvents.map { "\(situation.rawValue) + \($0)" } }
        #expect(Set(pairs).count == pairs.count, "a pair is in the table twice")
        #expect(Set(pairs) == Set(every))
        #expect(pairs.count == 6 * 13)
    }

    @Test(arguments: table)
    func everyStateAndEvent(_ row: Row) {
        var machine = row.from.machine
        #expect(Phase(machine.state) == row.from.phase, "the machine was not driven into \(row.from)")
        #expect(Did(row.event.apply(to: &machine)) == row.action)
        #expect(Phase(machine.state) == row.to)
    }

    // MARK: Fail-over

    @Test func aRequestFailsOverThroughEveryCandidateThenGetsTheGateways502() throws {
        var machine = Machine(candidates: Self.candidates)
        #expect(Did(machine.start()) == .connect(backend: 3, fresh: false))
        #expect(Did(machine.connectFailed()) == .failOver(failed: 3, next: 7))
        #expect(Phase(machine.state) == .connecting(candidate: 1, retried: false))
        #expect(Did(machine.connected()) == .sendRequest(backend: 7))
        #expect(Did(machine.workerFailed(.silent)) == .failOver(failed: 7, next: 9))
        #expect(Phase(machine.state) == .connecting(candidate: 2, retried: false))
        #expect(Did(machine.connected()) == .sendRequest(backend: 9))
        let action = machine.workerFailed(.broken(afterEarlierAnswers: false))
        let expected = Settled(
            status: 502, backend: nil, usage: nil, remainder: nil,
            end: .gatewayAnswer(.upstreamUnavailable("alpha"), keepAlive: true), attempt: .failed(backend: 9),
            abandonsWorker: false
        )
        #expect(Did(action) == .settle(expected))
        #expect(Phase(machine.state) == .settled)

        // The gateway's own answer, in OpenAI's shape, names no backend and echoes nothing.
        guard case .settle(let settlement) = action, case .gatewayAnswer(let error, _) = settlement.end else {
            Issue.record("no gateway answer")
            return
        }
        #expect(error.status == .badGateway)
        let json = try #require(try JSONSerialization.jsonObject(with: Data(error.body)) as? [String: Any])
        let inner = try #require(json["error"] as? [String: Any])
        #expect(inner["type"] as? String == "server_error")
        #expect(inner["code"] as? String == "backend_unavailable")
        let text = String(decoding: error.body, as: UTF8.self)
        for name in Self.candidates.map(\.name) { #expect(!text.contains(name)) }
    }

    @Test func aSingleCandidateThatCannotBeReachedGets502AtOnce() {
        var machine = Machine(candidates: [Self.candidates[1]])
        _ = machine.start()
        #expect(Did(machine.connectFailed()) == .settle(Settled(
            status: 502, backend: nil, usage: nil, remainder: nil,
            end: .gatewayAnswer(.upstreamUnavailable("beta"), keepAlive: true), attempt: .failed(backend: 7),
            abandonsWorker: false
        )))
    }

    @Test func theAnsweringCandidatesStreamOptionsAreTheOnesApplied() {
        var candidates = Self.candidates
        candidates[1].streamOptions = StreamFilterOptions(removesUsageChunk: true, removesChunkUsage: true)
        var machine = Machine(candidates: candidates)
        _ = machine.start()
        _ = machine.connectFailed()
        _ = machine.connected()
        #expect(Did(machine.workerResponded(status: .ok, isEventStream: true)) == .forwardHead(200, backend: 7))
        let forwarded = Self.send(
            [Self.continuousChunk("a", prompt: 4, completion: 1), Self.usageChunk], to: &machine
        )
        #expect(forwarded == Self.chunk("a"))
    }

    // MARK: A kept-alive connection the worker closed

    @Test func aBrokenKeptAliveConnectionIsTriedOnceMoreOnAFreshOne() {
        var machine = Machine(candidates: Self.candidates)
        Self.awaitHead(&machine)
        #expect(Did(machine.workerFailed(.broken(afterEarlierAnswers: true))) == .connect(backend: 3, fresh: true))
        #expect(Phase(machine.state) == .connecting(candidate: 0, retried: true))
        #expect(Did(machine.connected()) == .sendRequest(backend: 3))
        #expect(Phase(machine.state) == .awaitingHead(candidate: 0, retried: true))
        #expect(Did(machine.workerResponded(status: .ok, isEventStream: false)) == .forwardHead(200, backend: 3))
        _ = Self.send(Self.bodyPieces, to: &machine)
        #expect(Did(machine.workerFinished()) == .settle(Settled(
            status: 200, backend: 3, usage: .reported(TokenUsage(prompt: 5, completion: 2)), remainder: nil,
            end: .whole, attempt: .ended(backend: 3), abandonsWorker: false
        )))
    }

    @Test func theFreshConnectionIsTriedOnlyOncePerCandidate() {
        var machine = Machine(candidates: Self.candidates)
        Self.awaitHead(&machine)
        _ = machine.workerFailed(.broken(afterEarlierAnswers: true))
        _ = machine.connected()
        #expect(Did(machine.workerFailed(.broken(afterEarlierAnswers: true))) == .failOver(failed: 3, next: 7))
        #expect(Phase(machine.state) == .connecting(candidate: 1, retried: false))
        // The next candidate has its own retry.
        _ = machine.connected()
        #expect(Did(machine.workerFailed(.broken(afterEarlierAnswers: true))) == .connect(backend: 7, fresh: true))
        #expect(Phase(machine.state) == .connecting(candidate: 1, retried: true))
    }

    @Test func aFreshConnectionThatCannotBeMadeFailsOver() {
        var machine = Machine(candidates: Self.candidates)
        Self.awaitHead(&machine)
        _ = machine.workerFailed(.broken(afterEarlierAnswers: true))
        #expect(Did(machine.connectFailed()) == .failOver(failed: 3, next: 7))
    }

    @Test func aSilentWorkerOrAFirstAnswersBrokenConnectionIsNotRetried() {
        for failure in [Machine.WorkerFailure.silent, .broken(afterEarlierAnswers: false)] {
            var machine = Machine(candidates: Self.candidates)
            Self.awaitHead(&machine)
            #expect(Did(machine.workerFailed(failure)) == .failOver(failed: 3, next: 7), "\(failure)")
        }
    }

    @Test func theLastCandidatesRetryFailingEndsIn502BlamingIt() {
        var machine = Machine(candidates: [Self.candidates[2]])
        Self.awaitHead(&machine)
        #expect(Did(machine.workerFailed(.broken(afterEarlierAnswers: true))) == .connect(backend: 9, fresh: true))
        _ = machine.connected()
        #expect(Did(machine.workerFailed(.silent)) == .settle(Settled(
            status: 502, backend: nil, usage: nil, remainder: nil,
            end: .gatewayAnswer(.upstreamUnavailable("gamma"), keepAlive: true), attempt: .failed(backend: 9),
            abandonsWorker: false
        )))
    }

    // MARK: Streams cut short

    @Test(arguments: 0...6)
    func aStreamTheClientLeftAfterKPiecesIsCountedByThem(k: Int) {
        var machine = Machine(candidates: Self.candidates)
        let pieces = [Self.roleChunk] + (0..<k).map { Self.chunk("t\($0)") }
        #expect(Self.relay(&machine, stream: true, sending: pieces) == pieces.joined())
        #expect(Did(machine.clientClosed()) == .settle(Settled(
            status: 499, backend: 3, usage: .counted(TokenUsage(prompt: 0, completion: k)), remainder: nil,
            end: .clientGone, attempt: .ended(backend: 3), abandonsWorker: true
        )))
    }

    @Test func anEventHeldBackIncompleteIsNotCounted() {
        var machine = Machine(candidates: Self.candidates)
        let half = String(Self.chunk("held").dropLast(6))
        let pieces = [Self.roleChunk, Self.chunk("a"), Self.chunk("b"), half]
        let forwarded = Self.relay(&machine, stream: true, sending: pieces)
        #expect(forwarded == Self.roleChunk + Self.chunk("a") + Self.chunk("b"))
        #expect(Did(machine.clientClosed()) == .settle(Settled(
            status: 499, backend: 3, usage: .counted(TokenUsage(prompt: 0, completion: 2)), remainder: nil,
            end: .clientGone, attempt: .ended(backend: 3), abandonsWorker: true
        )))
    }

    /// vLLM with `continuous_usage_stats`: a stream cut short has its worker's count up to the cut.
    static func continuousMachine() -> Machine {
        var candidates = Self.candidates
        candidates[0].streamOptions = StreamFilterOptions(removesUsageChunk: true, removesChunkUsage: true)
        return Machine(candidates: candidates)
    }

    @Test(arguments: 1...5)
    func aContinuousUsageStreamCutAfterKChunksHasTheLastChunksCount(k: Int) {
        var machine = Self.continuousMachine()
        let pieces = [Self.continuousChunk("", prompt: 11, completion: 0)]
            + (1...k).map { Self.continuousChunk("t\($0)", prompt: 11, completion: $0) }
        let forwarded = Self.relay(&machine, stream: true, sending: pieces)
        #expect(!forwarded.contains("usage"))
        #expect(forwarded.contains(Self.chunk("t\(k)")))
        #expect(Did(machine.clientClosed()) == .settle(Settled(
            status: 499, backend: 3, usage: .reported(TokenUsage(prompt: 11, completion: k)), remainder: nil,
            end: .clientGone, attempt: .ended(backend: 3), abandonsWorker: true
        )))
    }

    @Test func aContinuousUsageStreamWhoseWorkerFailedHasTheLastChunksCount() {
        var machine = Self.continuousMachine()
        let pieces = (1...3).map { Self.continuousChunk("t", prompt: 11, completion: $0) }
        Self.relay(&machine, stream: true, sending: pieces)
        #expect(Did(machine.workerFailed(.broken(afterEarlierAnswers: true))) == .settle(Settled(
            status: 502, backend: 3, usage: .reported(TokenUsage(prompt: 11, completion: 3)), remainder: nil,
            end: .streamError(lastEvent: Self.failedMidStream.event), attempt: .failed(backend: 3),
            abandonsWorker: false
        )))
    }

    @Test func aStreamThatReachedItsUsageChunkBeforeTheClientLeftHasTheReport() {
        var candidates = Self.candidates
        candidates[0].streamOptions = StreamFilterOptions(removesUsageChunk: true)
        var machine = Machine(candidates: candidates)
        let forwarded = Self.relay(&machine, stream: true, sending: [Self.roleChunk, Self.chunk("a"), Self.usageChunk])
        #expect(forwarded == Self.roleChunk + Self.chunk("a"))
        #expect(Did(machine.clientClosed()) == .settle(Settled(
            status: 499, backend: 3, usage: .reported(TokenUsage(prompt: 12, completion: 7)), remainder: nil,
            end: .clientGone, attempt: .ended(backend: 3), abandonsWorker: true
        )))
    }

    @Test func aWorkerFailingMidStreamEndsItWithAnErrorEventAndCountsWhatWasRelayed() {
        var machine = Machine(candidates: Self.candidates)
        Self.relay(&machine, stream: true, sending: [Self.roleChunk] + (0..<4).map { Self.chunk("\($0)") })
        let action = machine.workerFailed(.silent)
        #expect(Did(action) == .settle(Settled(
            status: 502, backend: 3, usage: .counted(TokenUsage(prompt: 0, completion: 4)), remainder: nil,
            end: .streamError(lastEvent: Self.failedMidStream.event), attempt: .failed(backend: 3),
            abandonsWorker: false
        )))
        let event = Self.failedMidStream.event
        #expect(String(decoding: event, as: UTF8.self).hasPrefix("data: {\"error\":"))
        #expect(event.suffix(2) == Array("\n\n".utf8))
    }

    @Test func aWorkerFailingMidBodyCutsItAndCountsNothing() {
        var machine = Machine(candidates: Self.candidates)
        Self.relay(&machine, stream: false, sending: [Self.bodyPieces[0]])
        #expect(Did(machine.workerFailed(.broken(afterEarlierAnswers: false))) == .settle(Settled(
            status: 502, backend: 3, usage: nil, remainder: nil, end: .cut, attempt: .failed(backend: 3),
            abandonsWorker: false
        )))
    }

    // MARK: Interruptions

    @Test func anInterruptionBeforeTheHeadIsTheGatewaysAnswerAndGivesUpTheWorker() {
        var connecting = Situation.connecting.machine
        var awaiting = Situation.awaitingHead.machine
        let expected = Settled(
            status: 401, backend: nil, usage: nil, remainder: nil, end: .gatewayAnswer(Self.revoked, keepAlive: false),
            attempt: .ended(backend: 3), abandonsWorker: true
        )
        #expect(Did(connecting.interrupt(with: Self.revoked)) == .settle(expected))
        #expect(Did(awaiting.interrupt(with: Self.revoked)) == .settle(expected))
        // Before it started there is neither an attempt nor a worker.
        var initial = Situation.initial.machine
        #expect(Did(initial.interrupt(with: Self.revoked)) == .settle(Settled(
            status: 401, backend: nil, usage: nil, remainder: nil, end: .gatewayAnswer(Self.revoked, keepAlive: false),
            attempt: nil, abandonsWorker: false
        )))
    }

    // MARK: Whole answers

    @Test func aWholeStreamHasItsWorkersReportAndItsLastEventAsRemainder() {
        var candidates = Self.candidates
        candidates[0].streamOptions = StreamFilterOptions(removesUsageChunk: true)
        var machine = Machine(candidates: candidates)
        let unterminated = String(Self.done.dropLast())
        let forwarded = Self.relay(
            &machine, stream: true, sending: [Self.roleChunk, Self.chunk("a"), Self.usageChunk, unterminated]
        )
        #expect(forwarded == Self.roleChunk + Self.chunk("a"))
        #expect(Did(machine.workerFinished()) == .settle(Settled(
            status: 200, backend: 3, usage: .reported(TokenUsage(prompt: 12, completion: 7)), remainder: unterminated,
            end: .whole, attempt: .ended(backend: 3), abandonsWorker: false
        )))
    }

    /// `[DONE]` is held back and goes out with the answer's end, once the receipt is written.
    @Test func aWholeStreamWithNeitherReportNorTextHasNoUsageAndItsDoneAsRemainder() {
        var machine = Machine(candidates: Self.candidates)
        let forwarded = Self.relay(&machine, stream: true, sending: [Self.roleChunk, Self.done])
        #expect(forwarded == Self.roleChunk)
        #expect(Did(machine.workerFinished()) == .settle(Settled(
            status: 200, backend: 3, usage: nil, remainder: Self.done, end: .whole, attempt: .ended(backend: 3),
            abandonsWorker: false
        )))
    }

    @Test func aWorkersErrorStatusIsRelayedAndSettledAsItsOwn() {
        var machine = Machine(candidates: Self.candidates)
        _ = machine.start()
        _ = machine.connected()
        let head = machine.workerResponded(status: .tooManyRequests, isEventStream: false)
        #expect(Did(head) == .forwardHead(429, backend: 3))
        _ = Self.send([#"{"error":{"message":"busy"}}"#], to: &machine)
        #expect(Did(machine.workerFinished()) == .settle(Settled(
            status: 429, backend: 3, usage: nil, remainder: nil, end: .whole, attempt: .ended(backend: 3),
            abandonsWorker: false
        )))
    }

    @Test func aWorkerThatCannotServeNowIsPassedOverForTheNextCandidate() {
        var machine = Machine(candidates: Self.candidates)
        _ = machine.start()
        _ = machine.connected()
        #expect(Did(machine.workerResponded(status: .serviceUnavailable, isEventStream: false))
            == .failOver(failed: 3, next: 7))
        // The rest of the refused answer is not the next worker's: the machine waits for its connection.
        _ = Self.send([#"{"error":{"message":"Loading model"}}"#], to: &machine)
        #expect(Did(machine.connected()) == .sendRequest(backend: 7))
        #expect(Did(machine.workerResponded(status: .ok, isEventStream: true)) == .forwardHead(200, backend: 7))
    }

    @Test func theLastCandidatesUnavailableAnswerIsRelayedAsItIs() {
        var machine = Machine(candidates: Self.candidates)
        _ = machine.start()
        _ = machine.connected()
        _ = machine.workerResponded(status: .serviceUnavailable, isEventStream: false)
        _ = machine.connected()
        #expect(Did(machine.workerResponded(status: .serviceUnavailable, isEventStream: false))
            == .failOver(failed: 7, next: 9))
        _ = machine.connected()
        #expect(Did(machine.workerResponded(status: .serviceUnavailable, isEventStream: false))
            == .forwardHead(503, backend: 9))
    }

    // MARK: After the settlement

    /// Each way an exchange settles, to check that nothing comes after it.
    enum SettlingPath: String, CaseIterable, Sendable {
        case clientLeftBeforeStart, interruptedBeforeStart
        case clientLeftConnecting, interruptedConnecting, noCandidateReachable
        case clientLeftAwaitingHead, interruptedAwaitingHead, noCandidateAnswered
        case streamFinished, streamFailed, clientLeftStream, interruptedStream
        case bodyFinished, bodyFailed, clientLeftBody, interruptedBody

        func settle() -> Machine {
            let revoked = ProxyExchangeStateMachineTests.revoked
            let single = [ProxyExchangeStateMachineTests.candidates[0]]
            var machine: Machine
            let action: Machine.Action
            switch self {
            case .clientLeftBeforeStart:
                machine = Situation.initial.machine
                action = machine.clientClosed()
            case .interruptedBeforeStart:
                machine = Situation.initial.machine
                action = machine.interrupt(with: revoked)
            case .clientLeftConnecting:
                machine = Situation.connecting.machine
                action = machine.clientClosed()
            case .interruptedConnecting:
                machine = Situation.connecting.machine
                action = machine.interrupt(with: revoked)
            case .noCandidateReachable:
                machine = Machine(candidates: single)
                _ = machine.start()
                action = machine.connectFailed()
            case .clientLeftAwaitingHead:
                machine = Situation.awaitingHead.machine
                action = machine.clientClosed()
            case .interruptedAwaitingHead:
                machine = Situation.awaitingHead.machine
                action = machine.interrupt(with: revoked)
            case .noCandidateAnswered:
                machine = Machine(candidates: single)
                ProxyExchangeStateMachineTests.awaitHead(&machine)
                action = machine.workerFailed(.silent)
            case .streamFinished:
                machine = Situation.relayingStream.machine
                action = machine.workerFinished()
            case .streamFailed:
                machine = Situation.relayingStream.machine
                action = machine.workerFailed(.broken(afterEarlierAnswers: true))
            case .clientLeftStream:
                machine = Situation.relayingStream.machine
                action = machine.clientClosed()
            case .interruptedStream:
                machine = Situation.relayingStream.machine
                action = machine.interrupt(with: revoked)
            case .bodyFinished:
                machine = Situation.relayingBody.machine
                action = machine.workerFinished()
            case .bodyFailed:
                machine = Situation.relayingBody.machine
                action = machine.workerFailed(.silent)
            case .clientLeftBody:
                machine = Situation.relayingBody.machine
                action = machine.clientClosed()
            case .interruptedBody:
                machine = Situation.relayingBody.machine
                action = machine.interrupt(with: revoked)
            }
            guard case .settle = action else {
                Issue.record("\(self) did not settle: \(Did(action))")
                return machine
            }
            return machine
        }
    }

    @Test(arguments: SettlingPath.allCases)
    func nothingFollowsASettlement(_ path: SettlingPath) {
        var machine = path.settle()
        #expect(Phase(machine.state) == .settled)
        for event in Self.allEvents + [.workerResponded(.ok, isEventStream: false), .clientWritabilityChanged(true)] {
            let expected: Did = if case .connected = event { .closeConnection } else { .none }
            #expect(Did(event.apply(to: &machine)) == expected, "\(event)")
            #expect(Phase(machine.state) == .settled, "\(event)")
        }
    }

    // MARK: Back-pressure

    @Test(arguments: [true, false])
    func writabilityStopsAndResumesTheWorkerOnlyOnAChange(stream: Bool) {
        var machine = Machine(candidates: Self.candidates)
        Self.relay(&machine, stream: stream, sending: [])
        let changes: [(Bool, Did)] = [
            (true, .none),  // a relay starts writable
            (false, .setWorkerReading(false)),
            (false, .none),
            (true, .setWorkerReading(true)),
            (true, .none),
            (false, .setWorkerReading(false)),
        ]
        for (writable, expected) in changes {
            #expect(Did(machine.clientWritabilityChanged(writable)) == expected)
            let phase = Phase.relaying(backend: 3, status: 200, clientWritable: writable, stream: stream)
            #expect(Phase(machine.state) == phase)
        }
        // Paused, the relay still passes what already arrived and settles as usual.
        #expect(Did(machine.workerSent(ByteBuffer(string: Self.chunk("a")))) == .forward(Self.chunk("a")))
    }
}
