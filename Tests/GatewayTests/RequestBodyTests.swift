import Foundation
@testable import Gateway
import NIOCore
import NIOHTTP1
import Testing

@Suite struct RequestBodyTests {
    func scan(_ text: String) -> JSONObjectScan? {
        Array(text.utf8).withUnsafeBytes { JSONObjectScan($0) }
    }

    func parse(_ text: String) -> Result<RequestBody, OpenAIError> {
        RequestBody.parse(ByteBuffer(string: text))
    }

    /// Valid JSON objects, including every kind of value, escape and number form.
    static let objects = [
        "{}", " { } ", #"{"a":1}"#, #"{"a":-0.5e+10,"b":0,"c":1E3,"d":-12.25}"#,
        #"{"s":"\"\\\/\b\f\n\r\t\u00e9\uD83D\uDE00","u":"é😀"}"#, #"{"n":null,"t":true,"f":false}"#,
        #"{"o":{"p":{"q":[1,[2,[3,{}]],[]]}},"e":[]}"#, "{\n\t\"a\" :\r [ 1 , 2 ] \n}",
        #"{"model":"m","messages":[{"role":"user","content":"hi"}],"stream":true}"#,
    ]

    /// Not JSON, or not an object.
    static let invalid = [
        "", " ", "[]", "1", #""s""#, "null", "{", "}", #"{"a"}"#, #"{"a":}"#, #"{"a":1,}"#, #"{,"a":1}"#,
        #"{"a":1 "b":2}"#, #"{a:1}"#, #"{'a':1}"#, #"{"a":01}"#, #"{"a":1.}"#, #"{"a":.5}"#, #"{"a":+1}"#,
        #"{"a":1e}"#, #"{"a":-}"#, #"{"a":tru}"#, #"{"a":nul}"#, #"{"a":True}"#, #"{"a":NaN}"#, #"{"a":"\x"}"#,
        #"{"a":"\u12"}"#, #"{"a":"\u12G4"}"#, "{\"a\":\"tab\there\"}", "{\"a\":\"line\nbreak\"}", #"{"a":"open}"#,
        #"{"a":[1,2}"#, #"{"a":{"b":1]}"#, #"{"a":1}}"#, #"{"a":1} x"#, #"{"a":1}{}"#, #"{"a" 1}"#,
    ]

    @Test func validObjectsAreScannedAsFoundationDecodesThem() throws {
        for text in Self.objects {
            let scanned = try #require(scan(text), "\(text)")
            let decoded = try #require(try JSONSerialization.jsonObject(with: Data(text.utf8)) as? [String: Any])
            #expect(scanned.members.count == decoded.count, "\(text)")
        }
    }

    @Test func anythingElseIsRefused() {
        for text in Self.invalid {
            #expect(scan(text) == nil, "\(text)")
            // Foundation lets a trailing comma through; the workers' Python decoder does not.
            if text == #"{"a":1,}"# { continue }
            #expect((try? JSONSerialization.jsonObject(with: Data(text.utf8)) as? [String: Any]) == nil, "\(text)")
        }
    }

    @Test func textThatIsNotUTF8IsRefused() {
        let bytes: [UInt8] = Array(#"{"a":""#.utf8) + [0xC3, 0x28] + Array(#""}"#.utf8)
        #expect(bytes.withUnsafeBytes { JSONObjectScan($0) } == nil)
    }

    @Test func nestingIsBounded() {
        let deep = String(repeating: "[", count: 600) + String(repeating: "]", count: 600)
        #expect(scan(#"{"a":\#(deep)}"#) == nil)
        let fine = String(repeating: "[", count: 100) + String(repeating: "]", count: 100)
        #expect(scan(#"{"a":\#(fine)}"#) != nil)
    }

    @Test func membersAreWhereTheyAreWritten() throws {
        let text = #"{ "model" : "m-1", "n": [1, {"x": 2}] ,"stream":true}"#
        let members = try #require(scan(text)).members
        let bytes = Array(text.utf8)
        let pieces = members.map { (String(decoding: bytes[$0.name], as: UTF8.self), String(decoding: bytes[$0.value], as: UTF8.self), $0.kind) }
        #expect(pieces.map(\.0) == ["model", "n", "stream"])
        #expect(pieces.map(\.1) == [#""m-1""#, #"[1, {"x": 2}]"#, "true"])
        #expect(pieces.map(\.2) == [.string, .array, .true])
    }

    @Test func theUsualBodyIsReadWithoutDecodingIt() throws {
        let body = try parse(#"{"model":"llama-3","stream":true,"messages":[{"role":"user","content":"hi"}]}"#).get()
        #expect(body.model == "llama-3" && body.isStream && !body.clientAsksForUsage && body.members == nil)
        #expect(try !parse(#"{"model":"m","stream":false}"#).get().isStream)
        #expect(try !parse(#"{"model":"m","stream":null}"#).get().isStream)
        #expect(try parse(#"{"model":"m"}"#).get().streamOptions(path: "/v1/chat/completions", continuousUsage: false) == nil)
        #expect(try parse(#"{"model":"m","stream":true}"#).get().streamOptions(path: "/v1/chat/completions", continuousUsage: false)
            == .json(#"{"include_usage":true}"#))
    }

    @Test func bodiesWithTheGatewaysFieldsOrEscapedNamesAreDecodedInFull() throws {
        let owned = try parse(#"{"model":"m","stream":true,"stream_options":{"include_usage":true,"x":1}}"#).get()
        #expect(owned.members != nil && owned.isStream && owned.clientAsksForUsage)
        let salted = try parse(#"{"model":"m","cache_salt":"theirs"}"#).get()
        #expect(salted.members?["cache_salt"] as? String == "theirs")
        // An escaped name is the same name to the worker's decoder: the gateway must see it too.
        let escaped = try parse(#"{"model":"m","pri\u006frity":-5}"#).get()
        #expect(escaped.members?["priority"] as? Int == -5)
        let escapedModel = try parse(#"{"model":"m\u002d1"}"#).get()
        #expect(escapedModel.model == "m-1")
    }

    @Test func aStreamFlagMustBeABoolean() {
        let bodies = [
            #"{"model":"m","stream":1}"#, #"{"model":"m","stream":"true"}"#, #"{"model":"m","stream":{}}"#,
            // Also in a body decoded in full, and under an escaped name.
            #"{"model":"m","stream":"yes","stream_options":{"include_usage":true}}"#, #"{"model":"m","str\u0065am":1}"#,
        ]
        for text in bodies {
            guard case .failure(let error) = parse(text) else {
                Issue.record("\(text) accepted")
                continue
            }
            #expect(error.status == .badRequest && error.param == "stream", "\(text)")
        }
    }

    @Test func theModelAndStreamMayAppearOnlyOnce() throws {
        let bodies = [
            #"{"model":"m","stream":false,"stream":true}"#, #"{"model":"a","model":"b"}"#,
            #"{"model":"m","stream":true,"cache_salt":"x","str\u0065am":false}"#, #"{"mod\u0065l":"a","model":"b"}"#,
        ]
        for text in bodies {
            guard case .failure(let error) = parse(text) else {
                Issue.record("\(text) accepted")
                continue
            }
            #expect(error.code == "duplicate_member", "\(text)")
        }
        #expect(try parse(#"{"model":"m","stream_options":{},"str\u0065am":true}"#).get().isStream)
    }

    @Test func aMissingOrEmptyModelIsNamed() {
        for text in [#"{}"#, #"{"model":""}"#, #"{"model":7}"#, #"{"messages":[]}"#] {
            guard case .failure(let error) = parse(text) else {
                Issue.record("\(text) accepted")
                continue
            }
            #expect(error.code == "missing_model", "\(text)")
        }
    }
}
