import Foundation
import Registry
import WireGuard

/// Decides which pending key rotations are complete: pure, from the registry's peers, what the
/// device reports and the clock.
public enum RotationCheck {
    /// Why a rotation completed.
    public enum Reason: String, Sendable {
        /// The new key handshook after the rotation started: the new client config is in use.
        case handshake
        /// The grace period ended before the new key ever connected.
        case gracePeriodEnded = "grace period ended"
    }

    /// A rotation that is complete now.
    public struct Completion: Sendable, Equatable {
        /// The peer, still with its pending rotation.
        public let peer: Peer
        /// Why.
        public let reason: Reason
    }

    /// The rotations among `peers` that are complete at `now`, given the device's handshakes.
    ///
    /// A handshake counts only when it is not older than the rotation's start: a second rotate may
    /// reuse a key the device has seen before, and an old handshake proves nothing about the new config.
    /// The start is taken to the whole second because a device may report handshakes only to the second
    /// (wireguard-go's UAPI `last_handshake_time_sec`, as popgate reads it): a handshake in the same
    /// second as the start must count, or the rotation would wait for the next one, two minutes later.
    public static func due(peers: [Peer], device: DeviceStatus, now: Date) -> [Completion] {
        let handshakes = Dictionary(
            device.peers.compactMap { peer in peer.lastHandshake.map { (peer.publicKey, $0) } },
            uniquingKeysWith: { first, _ in first }
        )
        return peers.compactMap { peer in
            guard peer.state == .active, let rotation = peer.rotation else { return nil }
            let start = Date(timeIntervalSince1970: rotation.startedAt.timeIntervalSince1970.rounded(.down))
            if let handshake = handshakes[rotation.publicKey], handshake >= start {
                return Completion(peer: peer, reason: .handshake)
            }
            return now >= rotation.deadline ? Completion(peer: peer, reason: .gracePeriodEnded) : nil
        }
    }

    /// The earliest grace-period end among `peers`: a pass is due then even if nothing else changes.
    public static func nextDeadline(peers: [Peer]) -> Date? {
        peers.compactMap(\.rotation?.deadline).min()
    }
}
