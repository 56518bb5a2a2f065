import Foundation
import NetAgent
import Testing

@Suite struct InstanceLockTests {
    @Test func aSecondHolderIsRefusedWithTheFirstsPid() throws {
        let path = NSTemporaryDirectory() + "popgate-lock-\(UUID().uuidString)/popnetd.lock"
        let first = try InstanceLock(path: path)
        // flock locks belong to the open file description, so a second open in this process
        // conflicts just as a second popnetd would.
        do {
            _ = try InstanceLock(path: path)
            Issue.record("the second lock must fail")
        } catch {
            #expect(error.message.contains("already running"))
            #expect(error.message.contains("\(getpid())"))
        }
        withExtendedLifetime(first) {}
    }
}
