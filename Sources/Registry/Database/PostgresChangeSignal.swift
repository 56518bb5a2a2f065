import Logging
import NIOConcurrencyHelpers
import NIOCore
import PostgresNIO

/// Wakes a follower when any PoP or `popctl` commits to the PostgreSQL registry: a connection of
/// its own LISTENs on ``PostgresRegistryDatabase/notificationChannel``, which every write
/// transaction NOTIFYs before it commits.
///
/// A lost connection is opened again every second, and each (re)connection counts as a
/// notification, since commits made while nobody listened are not replayed. The follower reads
/// the revision then, so a spurious wake-up costs one small query.
final class PostgresChangeSignal: RegistryChangeWaiting {
    private let mailbox = Mailbox()
    private let listener: Task<Void, Never>

    init(connect: @escaping @Sendable () async throws -> PostgresConnection) {
        let mailbox = mailbox
        listener = Task {
            while !Task.isCancelled {
                do {
                    let connection = try await connect()
                    do {
                        try await connection.listen(on: PostgresRegistryDatabase.notificationChannel) { stream in
                            mailbox.post()
                            for try await _ in stream { mailbox.post() }
                        }
                    } catch {}
                    try? await connection.close()
                } catch {}
                try? await Task.sleep(for: .seconds(1))
            }
        }
    }

    deinit { listener.cancel() }

    func wait(upTo timeout: Duration) async {
        await mailbox.wait(upTo: timeout)
    }
}

/// Notifications posted by the listener, taken by one waiter at a time. A notification posted
/// while nobody waits is kept (one is enough: the follower re-reads everything that changed).
private final class Mailbox: Sendable {
    private struct State {
        var pending = false
        var waiter: (id: UInt64, continuation: CheckedContinuation<Void, Never>)?
        var nextID: UInt64 = 0
    }

    private let state = NIOLockedValueBox(State())

    func post() {
        let waiter = state.withLockedValue { state in
            guard let waiter = state.waiter else {
                state.pending = true
                return nil as CheckedContinuation<Void, Never>?
            }
            state.waiter = nil
            return waiter.continuation
        }
        waiter?.resume()
    }

    func wait(upTo timeout: Duration) async {
        await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
            let id: UInt64? = state.withLockedValue { state in
                if state.pending {
                    state.pending = false
                    return nil
                }
                state.nextID += 1
                // One follower waits at a time; a waiter left over (cannot happen) is released first.
                state.waiter?.continuation.resume()
                state.waiter = (state.nextID, continuation)
                return state.nextID
            }
            guard let id else { return continuation.resume() }
            Task { [self] in
                try? await Task.sleep(for: timeout)
                expire(id)
            }
        }
    }

    private func expire(_ id: UInt64) {
        let waiter = state.withLockedValue { state in
            guard state.waiter?.id == id else { return nil as CheckedContinuation<Void, Never>? }
            defer { state.waiter = nil }
            return state.waiter?.continuation
        }
        waiter?.resume()
    }
}
