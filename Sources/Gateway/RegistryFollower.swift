import Logging
import Registry
import ServiceLifecycle

/// Keeps the ``PeerDirectory`` current: polls the registry's revision counter and reloads the
/// snapshot when it moves. One row read per poll, so a short interval costs almost nothing.
public struct RegistryFollower: Service {
    private let store: RegistryStore
    private let directory: PeerDirectory
    private let interval: Duration
    private let logger: Logger

    /// Creates a follower polling every `interval`.
    public init(store: RegistryStore, directory: PeerDirectory, interval: Duration, logger: Logger) {
        self.store = store
        self.directory = directory
        self.interval = interval
        self.logger = logger
    }

    /// Loads the snapshot once, now.
    public func refresh() throws(RegistryError) {
        let snapshot = try store.snapshot()
        directory.replace(with: snapshot)
        logger.info(
            "registry loaded",
            metadata: ["registry.revision": "\(snapshot.revision)", "peers": "\(snapshot.peersByAddress.count)"]
        )
    }

    public func run() async throws {
        while !Task.isCancelled && !Task.isShuttingDownGracefully {
            do {
                if try store.revision() != directory.snapshot.revision { try refresh() }
            } catch {
                // Keep serving the last good snapshot (fail static) and say so.
                logger.error("registry read failed; keeping the last snapshot", metadata: ["error": "\(error)"])
            }
            try? await Task.sleep(for: interval)
        }
    }
}
