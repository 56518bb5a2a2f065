import Foundation
@testable import Gateway
import NIOCore
import Testing

@Suite struct PriorityFieldTests {
    func edit(_ text: String, _ priority: Int?) -> String {
        String(buffer: PriorityField.setting(priority, in: ByteBuffer(string: text)))
    }

    func object(_ text: String) -> [String: Any]? {
        try? JSONSerialization.jsonObject(with: Data(text.utf8)) as? [String: Any]
    }

    @Test func theTiersPriorityGoesInAndEveryOtherByteStays() {
        let body = #"  {"model":"m","temperature":0.7,"messages":[{"role":"user","content":"hi"}]}"#
        let edited = edit(body, 10)
        #expect(edited == #"  {"priority":10,"model":"m","temperature":0.7,"messages":[{"role":"user","content":"hi"}]}"#)
        #expect(edit("{}", 1) == #"{"priority":1}"#)
        #expect(edit(body, nil) == body)
    }

    @Test func aClientsOwnPriorityIsReplacedOrRemoved() {
        let body = #"{"model":"m","priority":-100}"#
        #expect(object(edit(body, 1000))?["priority"] as? Int == 1000)
        let removed = object(edit(body, nil))
        #expect(removed?["priority"] == nil && removed?["model"] as? String == "m")
    }

    @Test func somethingThatIsNotAJSONObjectIsLeftAlone() {
        #expect(edit("[1,2]", 5) == "[1,2]")
        #expect(edit("not json", 5) == "not json")
    }
}
