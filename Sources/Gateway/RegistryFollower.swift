import Foundation
import Logging
import Registry
import ServiceLifecycle

/// Keeps the ``PeerDirectory`` current: reloads the snapshot when a writer announces a commit
/// (``RegistryChangeSignal``) and the revision counter has moved. The counter is also polled as the
/// fallback; one row read per poll, so a short interval costs almost nothing.
///
/// Expiry moves no revision, so the follower also reloads when the snapshot's earliest expiry
/// passes, and never sleeps past that instant: an expired peer is refused on time.
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

    /// Brings the snapshot up to date now: read whole the first time, then from the change feed.
    public func refresh() throws(RegistryError) {
        let snapshot = try store.snapshot(updating: directory.snapshot)
        directory.replace(with: snapshot)
        logger.info(
            "registry loaded",
            metadata: ["registry.revision": "\(snapshot.revision)", "peers": "\(snapshot.peersByAddress.count)"]
        )
    }

    public func run() async throws {
        let changeSignal = store.makeChangeSignal()
        if changeSignal == nil { logger.info("registry changes are seen at the next poll", metadata: ["registry": "\(store.location)"]) }
        while !Task.isCancelled && !Task.isShuttingDownGracefully {
            let snapshot = directory.snapshot
            do {
                if snapshot.isStale(currentRevision: try store.revision(), now: Date()) { try refresh() }
            } catch {
                // Keep serving the last good snapshot (fail static) and say so; expiries still apply.
                logger.error("registry read failed; keeping the last snapshot", metadata: ["error": "\(error)"])
                directory.replace(with: snapshot.pruned(at: Date()))
            }
            let untilExpiry = directory.snapshot.timeUntilNextExpiry(from: Date()) ?? interval
            // At least a millisecond: never a busy loop, whatever the clock does.
            let delay = max(.milliseconds(1), min(interval, untilExpiry))
            if let changeSignal { await changeSignal.wait(upTo: delay) } else { try? await Task.sleep(for: delay) }
        }
    }
}
