@testable import Gateway
import Receipts
import Testing

@Suite struct RequestIDTests {
    @Test func idsNeverRepeatAcrossRefills() {
        // 600 ids use more than two 4 KiB draws of random bytes.
        let ids = (0..<600).map { _ in RequestID.make() }
        #expect(Set(ids).count == ids.count)
        for id in ids {
            #expect(id.description.hasPrefix("rcpt_") && id.description.count == 37)
            #expect(ReceiptID(id.description) == id)
        }
    }
}
