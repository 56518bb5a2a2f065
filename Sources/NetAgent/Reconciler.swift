import Foundation
import Logging
import Registry
import Sodium
import WireGuard

/// One reconcile pass at a time: reads the device, completes due key rotations, applies the
/// smallest change that makes the device equal to the registry, and publishes the outcome.
///
/// Not thread-safe: popnetd's loop owns it. It remembers the last desired state it applied,
/// which is how it tells drift (the device changed) from a registry or clock change (the wish changed).
public final class Reconciler {
    private let privateKey: Curve25519PrivateKey
    private let listenPort: Int
    private let store: RegistryStore
    private let backend: any WireGuardBackend
    private let board: StatusBoard
    private let logger: Logger
    private var lastApplied: DesiredDevice?
    /// The device as the last pass left it: read then, with that pass's change applied.
    private var lastDevice: DeviceStatus?

    /// What one pass did.
    public struct Outcome: Sendable, Equatable {
        /// The change applied to the device (empty when it already matched).
        public var change: DeviceChange
        /// True when the desired state had not changed since the last pass, so the device had.
        public var repairedDrift: Bool
        /// Rotations completed in this pass.
        public var completedRotations: [RotationCheck.Completion]
    }

    /// A reconciler for `backend`, recording rotation completions in `store` and status on `board`.
    public init(
        privateKey: Curve25519PrivateKey, listenPort: Int, store: RegistryStore, backend: any WireGuardBackend,
        board: StatusBoard, logger: Logger
    ) {
        self.privateKey = privateKey
        self.listenPort = listenPort
        self.store = store
        self.backend = backend
        self.board = board
        self.logger = logger
    }

    /// One pass against `snapshot` at `now`. On failure the device keeps what it has (fail static),
    /// the board shows the error, and the next pass starts from a fresh read of the device.
    ///
    /// A `.fromRegistry` pass applies the difference between the desired state last applied and
    /// the new one without reading the device (drift waits for the next `.againstDevice` pass); it
    /// falls back to reading the device when nothing was applied yet.
    @discardableResult
    public func pass(
        _ snapshot: RegistrySnapshot, now: Date = Date(), kind: ReconcilePass = .againstDevice
    ) throws -> Outcome {
        do {
            if kind == .fromRegistry, let lastApplied, let lastDevice {
                return try applyFromRegistry(snapshot, now: now, previous: lastApplied, device: lastDevice)
            }
            return try applyAgainstDevice(snapshot, now: now)
        } catch {
            lastApplied = nil
            lastDevice = nil
            board.recordFailure("\(error)")
            throw error
        }
    }

    private func applyFromRegistry(
        _ snapshot: RegistrySnapshot, now: Date, previous: DesiredDevice, device: DeviceStatus
    ) throws -> Outcome {
        let peers = snapshot.pruned(at: now).activePeers
        let desired = DesiredDevice(privateKey: privateKey, listenPort: listenPort, peers: peers)
        let change = ReconcilePlan.diff(from: previous, to: desired)
        try apply(change, snapshot: snapshot, repairedDrift: false)
        finish(
            snapshot, now: now, peers: peers, desired: desired,
            device: device.applying(change, devicePublicKey: desired.publicKey), repairedDrift: false
        )
        return Outcome(change: change, repairedDrift: false, completedRotations: [])
    }

    private func applyAgainstDevice(_ snapshot: RegistrySnapshot, now: Date) throws -> Outcome {
        // A snapshot read before an expiry may be used after it; expiry is by the clock.
        let live = snapshot.pruned(at: now).activePeers
        let actual = try backend.status()
        let completions = RotationCheck.due(peers: live, device: actual, now: now).filter(record)
        let completedIDs = Set(completions.map(\.peer.id))
        let peers = live.map { completedIDs.contains($0.id) ? $0.completingRotation() : $0 }
        let desired = DesiredDevice(privateKey: privateKey, listenPort: listenPort, peers: peers)
        let change = ReconcilePlan.diff(desired: desired, actual: actual)
        let repairedDrift = !change.isEmpty && desired == lastApplied
        try apply(change, snapshot: snapshot, repairedDrift: repairedDrift)
        // The status shows what the device holds now, not what it held before the change.
        finish(
            snapshot, now: now, peers: peers, desired: desired,
            device: actual.applying(change, devicePublicKey: desired.publicKey), repairedDrift: repairedDrift
        )
        return Outcome(change: change, repairedDrift: repairedDrift, completedRotations: completions)
    }

    private func apply(_ change: DeviceChange, snapshot: RegistrySnapshot, repairedDrift: Bool) throws {
        guard !change.isEmpty else { return }
        lastApplied = nil  // until it is known to have been applied
        try backend.apply(change)
        logger.info(
            repairedDrift ? "device drift repaired" : "device reconciled",
            metadata: [
                "registry.revision": "\(snapshot.revision)", "peers.upserted": "\(change.upsertPeers.count)",
                "peers.removed": "\(change.removePeers.count)", "wg.interface": "\(backend.interface)",
            ]
        )
    }

    private func finish(
        _ snapshot: RegistrySnapshot, now: Date, peers: [Peer], desired: DesiredDevice, device: DeviceStatus,
        repairedDrift: Bool
    ) {
        lastApplied = desired
        lastDevice = device
        board.recordReconcile(
            at: now, revision: snapshot.revision, peersDesired: desired.peers.count,
            rotationsPending: peers.filter { $0.rotation != nil }.count, device: device, repairedDrift: repairedDrift
        )
    }

    /// Records a completed rotation in the registry. True when the device should complete it now:
    /// also when the registry cannot be written (the old key must stop on time; the write is
    /// retried on every pass, as the rotation stays due), but not when the registry says the
    /// rotation is no longer pending (a newer rotate replaced it: the next snapshot decides).
    private func record(_ completion: RotationCheck.Completion) -> Bool {
        guard let rotation = completion.peer.rotation else { return false }
        let metadata: Logger.Metadata = [
            "peer.name": "\(completion.peer.name)", "peer.public_key": "\(rotation.publicKey)",
            "peer.previous_public_key": "\(completion.peer.publicKey)",
            "rotation.reason": "\(completion.reason.rawValue)",
        ]
        do {
            guard try store.completeRotation(peerID: completion.peer.id, pendingKey: rotation.publicKey) else {
                logger.info("key rotation no longer pending; re-reading the registry", metadata: metadata)
                return false
            }
            logger.info("key rotation completed", metadata: metadata)
        } catch {
            logger.error(
                "key rotation completed on the device but not recorded; will retry",
                metadata: metadata.merging(["error": "\(error)"]) { $1 }
            )
        }
        return true
    }
}
