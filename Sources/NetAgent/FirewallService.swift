import Foundation
import ServiceLifecycle

/// Runs ``FirewallKeeper/watch(until:)`` until popnetd shuts down. The policy itself stays in the
/// kernel when popnetd stops or crashes: the node stays closed (fail closed).
public struct FirewallService: Service {
    private let keeper: FirewallKeeper

    public init(keeper: FirewallKeeper) {
        self.keeper = keeper
    }

    public func run() async throws {
        let keeper = keeper
        let stop = StopFlag()
        await withTaskCancellationHandler {
            await withGracefulShutdownHandler {
                // The watch blocks in poll(2), so it gets a thread of its own rather than a task of the pool.
                await withCheckedContinuation { (finished: CheckedContinuation<Void, Never>) in
                    let thread = Thread {
                        keeper.watch(until: { stop.isSet })
                        finished.resume()
                    }
                    thread.name = "popnetd-firewall"
                    thread.start()
                }
            } onGracefulShutdown: {
                stop.set()
            }
        } onCancel: {
            stop.set()
        }
    }
}

/// A flag one thread sets and another polls (NSLock: the package still builds for macOS 14).
final class StopFlag: @unchecked Sendable {
    private let lock = NSLock()
    private var value = false
    var isSet: Bool { lock.withLock { value } }
    func set() { lock.withLock { value = true } }
}
