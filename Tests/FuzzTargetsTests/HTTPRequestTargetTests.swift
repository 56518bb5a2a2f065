import Foundation
import FuzzTargets
import Testing

/// The HTTP target explores past authentication: its seeds reach the answers of a real request
/// (the model listing, the no-backend refusal), and a non-peer still gets nothing.
@Suite struct HTTPRequestTargetTests {
    static func answer(toSeed name: String) throws -> String {
        let url = CorpusReplayTests.corpus.appendingPathComponent("http-request").appendingPathComponent(name)
        let bytes = Array(try Data(contentsOf: url))
        return String(decoding: bytes.withUnsafeBytes { HTTPRequestTarget.exchange($0).written }, as: UTF8.self)
    }

    @Test func anAuthenticatedChatRequestEndsWithNoBackend() throws {
        let answer = try Self.answer(toSeed: "chat-no-backend")
        #expect(answer.hasPrefix("HTTP/1.1 503 "))
        #expect(answer.contains("no_backend_available"))
    }

    @Test func theModelListingIsAnswered() throws {
        #expect(try Self.answer(toSeed: "models").hasPrefix("HTTP/1.1 200 "))
    }

    @Test func pipelinedRequestsAreAnsweredInTurn() throws {
        let answer = try Self.answer(toSeed: "pipelined")
        #expect(answer.components(separatedBy: "HTTP/1.1 ").count - 1 == 3)
    }

    @Test func aNonPeerGetsNothing() throws {
        #expect(try Self.answer(toSeed: "stranger").isEmpty)
    }
}
