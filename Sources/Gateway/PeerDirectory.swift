import Addressing
import NIOConcurrencyHelpers
import Registry

/// The registry snapshot the gateway answers from, swapped whole when the registry changes.
///
/// Lookups happen on event loops for every new connection and request, so they read an
/// immutable snapshot under a lock held only for the pointer copy.
public final class PeerDirectory: Sendable {
    private let current: NIOLockedValueBox<Versioned>

    /// A snapshot and its generation, which changes with every replacement: also with a reload
    /// by the clock (an expiry), which keeps the registry's revision.
    struct Versioned {
        var snapshot: RegistrySnapshot
        var generation: UInt64
    }

    /// Starts with `snapshot` (empty until the first registry read).
    public init(_ snapshot: RegistrySnapshot = .empty) {
        current = NIOLockedValueBox(Versioned(snapshot: snapshot, generation: 0))
    }

    /// The snapshot in force.
    public var snapshot: RegistrySnapshot { current.withLockedValue { $0.snapshot } }

    /// The snapshot in force, with its generation.
    var versioned: Versioned { current.withLockedValue { $0 } }

    /// Replaces the snapshot.
    public func replace(with snapshot: RegistrySnapshot) {
        current.withLockedValue { $0 = Versioned(snapshot: snapshot, generation: $0.generation + 1) }
    }

    /// The live peer whose tunnel address is `address`, if any.
    public func livePeer(at address: IPAddress) -> Peer? {
        snapshot.peersByAddress[address]
    }
}
