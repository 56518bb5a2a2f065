import Foundation
@testable import Gateway
import NIOCore
import Sodium
import Testing

@Suite struct WorkerFieldsTests {
    func edit(_ text: String, _ fields: KeyValuePairs<String, WorkerFields.Value>) -> String {
        let members = object(text)
        let body = RequestBody(
            bytes: ByteBuffer(string: text), model: "m", isStream: false, clientAsksForUsage: false, members: members,
            isEmptyObject: members?.isEmpty ?? false
        )
        return String(buffer: WorkerFields.setting(fields.map { ($0.key, $0.value) }, in: body))
    }

    func object(_ text: String) -> [String: Any]? {
        try? JSONSerialization.jsonObject(with: Data(text.utf8)) as? [String: Any]
    }

    @Test func theGatewaysFieldsGoInAndEveryOtherByteStays() {
        let body = #"  {"model":"m","temperature":0.7,"messages":[{"role":"user","content":"hi"}]}"#
        #expect(edit(body, ["priority": .int(10), "cache_salt": .string("ab12")])
            == #"  {"priority":10,"cache_salt":"ab12","model":"m","temperature":0.7,"messages":[{"role":"user","content":"hi"}]}"#)
        #expect(edit("{}", ["priority": .int(1)]) == #"{"priority":1}"#)
        #expect(edit(body, ["priority": .absent, "cache_salt": .absent]) == body)
    }

    @Test func aClientsOwnValuesAreReplacedOrRemoved() {
        let body = #"{"model":"m","priority":-100,"cache_salt":"someone-elses"}"#
        let replaced = object(edit(body, ["priority": .int(1000), "cache_salt": .string("mine")]))
        #expect(replaced?["priority"] as? Int == 1000 && replaced?["cache_salt"] as? String == "mine")
        let removed = object(edit(body, ["priority": .absent, "cache_salt": .absent]))
        #expect(removed?["priority"] == nil && removed?["cache_salt"] == nil && removed?["model"] as? String == "m")
    }

    @Test func somethingThatIsNotAJSONObjectIsLeftAlone() {
        #expect(edit("[1,2]", ["priority": .int(5)]) == "[1,2]")
        #expect(edit("not json", ["priority": .int(5)]) == "not json")
    }

    @Test func saltsDifferByTenantAndKeyAndAreStable() {
        let key = SecretBytes(randomCount: 32)
        let salts = CacheSalt(key: key)
        #expect(salts.salt(tenantID: 1) == salts.salt(tenantID: 1))
        #expect(salts.salt(tenantID: 1) != salts.salt(tenantID: 2))
        #expect(salts.salt(tenantID: 1) != CacheSalt(key: SecretBytes(randomCount: 32)).salt(tenantID: 1))
        #expect(salts.salt(tenantID: 1).count == 64)
    }
}
