import Addressing
import NIOConcurrencyHelpers
import Registry

/// The registry snapshot the gateway answers from, swapped whole when the registry changes.
///
/// Lookups happen on event loops for every new connection and request, so they read an
/// immutable snapshot under a lock held only for the pointer copy.
public final class PeerDirectory: Sendable {
    private let current: NIOLockedValueBox<RegistrySnapshot>

    /// Starts with `snapshot` (empty until the first registry read).
    public init(_ snapshot: RegistrySnapshot = .empty) {
        current = NIOLockedValueBox(snapshot)
    }

    /// The snapshot in force.
    public var snapshot: RegistrySnapshot { current.withLockedValue { $0 } }

    /// Replaces the snapshot.
    public func replace(with snapshot: RegistrySnapshot) {
        current.withLockedValue { $0 = snapshot }
    }

    /// The live peer whose tunnel address is `address`, if any.
    public func livePeer(at address: IPAddress) -> Peer? {
        snapshot.peersByAddress[address]
    }
}
