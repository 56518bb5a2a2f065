import Foundation
import Registry
import Testing

/// Followers wake at another process's commit: inotify on a SQLite file, LISTEN/NOTIFY on PostgreSQL.
@Suite struct RegistryChangeSignalTests {
    /// Far longer than a wake-up takes, so a wait that ends before half of it was ended by the signal.
    /// Generous: the suite runs beside synchronous tests that can hold both of a 2-core machine's
    /// cooperative threads for seconds, and a woken wait resumes only when one is free (17 s seen).
    let patience: Duration = .seconds(120)

    /// The signal of a fresh registry, once it listens. PostgreSQL's counts its connection as a
    /// notification (commits made before it listened are not replayed); that one is taken here.
    func listeningSignal(_ registry: TemporaryRegistry, _ engine: RegistryEngine) async throws
        -> any RegistryChangeWaiting
    {
        let signal = try #require(registry.store.makeChangeSignal())
        if engine == .postgres {
            let clock = ContinuousClock()
            let start = clock.now
            await signal.wait(upTo: patience)
            #expect(clock.now - start < patience / 2, "the listener never connected")
        }
        return signal
    }

    @Test(arguments: RegistryEngine.all) func aCommitEndsAWaitAtOnce(engine: RegistryEngine) async throws {
        let registry = try TemporaryRegistry(engine)
        let signal = try await listeningSignal(registry, engine)
        let clock = ContinuousClock()
        let start = clock.now
        async let waited: Void = signal.wait(upTo: patience)
        try registry.addPeer("alice")
        await waited
        #expect(clock.now - start < patience / 2)
    }

    @Test(arguments: RegistryEngine.all) func aCommitMadeBeforeTheWaitIsNotLost(engine: RegistryEngine) async throws {
        let registry = try TemporaryRegistry(engine)
        let signal = try await listeningSignal(registry, engine)
        try registry.store.addTenant(name: "globex")
        let clock = ContinuousClock()
        let start = clock.now
        await signal.wait(upTo: patience)
        #expect(clock.now - start < patience / 2)
    }

    @Test(arguments: RegistryEngine.all)
    func withoutACommitTheWaitLastsItsTimeout(engine: RegistryEngine) async throws {
        let registry = try TemporaryRegistry(engine)
        let signal = try await listeningSignal(registry, engine)
        _ = try registry.store.snapshot()  // reads announce nothing
        let clock = ContinuousClock()
        let start = clock.now
        await signal.wait(upTo: .milliseconds(300))
        #expect(clock.now - start >= .milliseconds(300))
    }

    @Test(arguments: RegistryEngine.all) func aRefusedWriteAnnouncesNothing(engine: RegistryEngine) async throws {
        let registry = try TemporaryRegistry(engine)
        let signal = try await listeningSignal(registry, engine)
        #expect(throws: RegistryError.self) { try registry.store.addTenant(name: "acme") }
        let clock = ContinuousClock()
        let start = clock.now
        await signal.wait(upTo: .milliseconds(300))
        #expect(clock.now - start >= .milliseconds(300))
    }
}
