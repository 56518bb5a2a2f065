import Foundation
import Registry
import Testing

@Suite struct RegistryChangeSignalTests {
    /// Far longer than a wake-up takes, so a wait that ends before it was ended by the signal.
    let patience: Duration = .seconds(30)

    @Test func aCommitEndsAWaitAtOnce() async throws {
        let registry = try TemporaryRegistry()
        let signal = try #require(registry.store.makeChangeSignal())
        let clock = ContinuousClock()
        let start = clock.now
        async let waited: Void = signal.wait(upTo: patience)
        try registry.addPeer("alice")
        await waited
        #expect(clock.now - start < patience / 2)
    }

    @Test func aCommitMadeBeforeTheWaitIsNotLost() async throws {
        let registry = try TemporaryRegistry()
        let signal = try #require(registry.store.makeChangeSignal())
        try registry.store.addTenant(name: "globex")
        let clock = ContinuousClock()
        let start = clock.now
        await signal.wait(upTo: patience)
        #expect(clock.now - start < patience / 2)
    }

    @Test func withoutACommitTheWaitLastsItsTimeout() async throws {
        let registry = try TemporaryRegistry()
        let signal = try #require(registry.store.makeChangeSignal())
        _ = try registry.store.snapshot()  // reads announce nothing
        let clock = ContinuousClock()
        let start = clock.now
        await signal.wait(upTo: .milliseconds(300))
        #expect(clock.now - start >= .milliseconds(300))
    }

    @Test func aRefusedWriteAnnouncesNothing() async throws {
        let registry = try TemporaryRegistry()
        let signal = try #require(registry.store.makeChangeSignal())
        #expect(throws: RegistryError.self) { try registry.store.addTenant(name: "acme") }
        let clock = ContinuousClock()
        let start = clock.now
        await signal.wait(upTo: .milliseconds(300))
        #expect(clock.now - start >= .milliseconds(300))
    }
}
