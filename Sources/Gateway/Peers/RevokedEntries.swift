import Foundation
import Registry

/// Why a peer left the registry snapshot while it had connections open.
enum PeerEnding: String, Sendable, Equatable {
    /// `popctl peer revoke`, or its tenant removed with `--force`.
    case revoked
    /// Its expiry passed.
    case expired
}

/// What a registry change takes away from the requests already admitted: the peers and API keys
/// that were live in the old snapshot and are not in the new one.
///
/// A connection is bound to a peer's registry id, not to its address: revoked peers free their
/// tunnel address, so a new peer at the same address is still the end of the old one.
struct RevokedEntries: Sendable, Equatable {
    /// Peers no longer live, by registry id, with why.
    var peers: [Int64: PeerEnding] = [:]
    /// API key ids no longer live.
    var keys: Set<String> = []

    /// True when nothing was taken away (the usual change: a peer or a key added).
    var isEmpty: Bool { peers.isEmpty && keys.isEmpty }

    /// The entries live in `old` and gone from `new`; a peer that left with its expiry passed at
    /// `now` counts as expired, any other as revoked.
    init(from old: RegistrySnapshot, to new: RegistrySnapshot, at now: Date) {
        for peer in old.activePeers {
            let successor = new.peersByAddress[peer.address]
            guard successor?.id != peer.id || successor?.tenantID != peer.tenantID else { continue }
            peers[peer.id] = peer.expiresAt.map { $0 <= now } == true ? .expired : .revoked
        }
        for (keyID, record) in old.apiKeysByID {
            let successor = new.apiKeysByID[keyID]
            // A key moved to another tenant, or given another secret, is not the key that was presented.
            guard successor?.tenantID != record.tenantID || successor?.secretHash != record.secretHash else { continue }
            keys.insert(keyID)
        }
    }

    /// Nothing taken away.
    init() {}
}
