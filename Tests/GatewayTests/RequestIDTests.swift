@testable import Gateway
import Testing

@Suite struct RequestIDTests {
    @Test func idsAreHexAndNeverRepeatAcrossRefills() {
        // 600 ids use more than two 4 KiB draws of random bytes.
        let ids = (0..<600).map { _ in RequestID.make() }
        #expect(Set(ids).count == ids.count)
        for id in ids {
            #expect(id.hasPrefix("req_") && id.count == 36)
            #expect(id.dropFirst(4).allSatisfy { $0.isHexDigit })
        }
    }
}
