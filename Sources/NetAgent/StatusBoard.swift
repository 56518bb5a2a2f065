import Foundation
import Registry
import WireGuard

/// The status popnetd publishes: written by the reconcile loop, read by the status socket's thread.
public final class StatusBoard: @unchecked Sendable {
    // NSLock rather than Synchronization.Mutex: the package still builds for macOS 14.
    private let lock = NSLock()
    private var document: StatusDocument
    // The device as the last reconcile left it, turned into peer entries only when the document is
    // read: the loop records every pass, and entries for 10,000 peers are not free.
    private var device: DeviceStatus?

    /// A board for a device that has not been reconciled yet.
    public init(_ initial: StatusDocument) {
        document = initial
    }

    /// The current document.
    public var current: StatusDocument {
        let (document, device) = lock.withLock { (self.document, self.device) }
        return device.map(document.withDevice) ?? document
    }

    /// Records a completed reconcile: what was wanted, what the device then held, and whether it
    /// repaired drift.
    func recordReconcile(
        at time: Date, revision: Int64, peersDesired: Int, rotationsPending: Int, device: DeviceStatus,
        repairedDrift: Bool
    ) {
        lock.withLock {
            document.lastReconcile = time
            document.lastError = nil
            document.registryRevision = revision
            document.peersDesired = peersDesired
            document.rotationsPending = rotationsPending
            self.device = device
            document.reconciles += 1
            if repairedDrift { document.driftRepairs += 1 }
        }
    }

    /// Records the firewall's state after an operation: the peer set's size, whether it undid an
    /// outside change, and the error if it failed.
    func recordFirewall(peers: Int, repaired: Bool, error: String?) {
        lock.withLock {
            document.firewall = true
            document.firewallPeers = peers
            if repaired { document.firewallRepairs += 1 }
            document.firewallError = error
        }
    }

    /// Records whether the registry database can be read (fail static while it cannot).
    func recordRegistry(_ health: RegistryHealth) {
        lock.withLock {
            switch health {
            case .synced:
                document.registryState = "synced"
                document.registryDegradedSince = nil
                document.registryError = nil
            case .degraded(let since, let reason):
                document.registryState = "degraded"
                document.registryDegradedSince = since
                document.registryError = reason
            }
        }
    }

    /// Records a failed reconcile; the rest of the document keeps describing the last good one.
    func recordFailure(_ message: String) {
        lock.withLock { document.lastError = message }
    }
}
