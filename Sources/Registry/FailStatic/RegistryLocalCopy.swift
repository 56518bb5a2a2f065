import Addressing
import Foundation
import Sodium

#if canImport(Glibc)
import Glibc
#endif

/// A daemon's copy of the last registry snapshot it applied, on its own disk: what it enforces when
/// the fleet's PostgreSQL is unreachable, also across a restart (fail static).
///
/// It holds what the daemon holds in memory: live peers with their preshared keys and the API
/// keys' hashes (never a token), so it is as secret as the registry and written 0600. It is
/// replaced atomically (a new file renamed over the old) so a crash never leaves half a copy.
public struct RegistryLocalCopy: Sendable {
    /// The file.
    public let path: String

    public init(path: String) { self.path = path }

    /// Writes `snapshot`, replacing the previous copy.
    public func save(_ snapshot: RegistrySnapshot) throws(RegistryError) {
        let file = CopyFile(snapshot)
        let temporary = path + ".new"
        do {
            // The daemon's own directory, private to it (popctl node init makes it under systemd).
            let directory = (path as NSString).deletingLastPathComponent
            if !directory.isEmpty && !FileManager.default.fileExists(atPath: directory) {
                try FileManager.default.createDirectory(
                    atPath: directory, withIntermediateDirectories: true, attributes: [.posixPermissions: 0o700]
                )
            }
            let data = try JSONEncoder().encode(file)
            let fd = open(temporary, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, 0o600)
            guard fd >= 0 else { throw POSIXFailure(call: "open", errno: errno) }
            defer { close(fd) }
            // A file left by someone else with wider permissions is narrowed before it holds secrets.
            guard fchmod(fd, 0o600) == 0 else { throw POSIXFailure(call: "fchmod", errno: errno) }
            try FileHandle(fileDescriptor: fd, closeOnDealloc: false).write(contentsOf: data)
            guard fsync(fd) == 0 else { throw POSIXFailure(call: "fsync", errno: errno) }
            guard rename(temporary, path) == 0 else { throw POSIXFailure(call: "rename", errno: errno) }
        } catch {
            unlink(temporary)
            throw RegistryError(
                .storage,
                "cannot write the local registry copy \(path): \(error); check that its directory exists and "
                    + "this daemon may write there (registry.local_copy_directory)"
            )
        }
    }

    /// The saved snapshot, or nil when there is none yet.
    public func load() throws(RegistryError) -> RegistrySnapshot? {
        guard FileManager.default.fileExists(atPath: path) else { return nil }
        do {
            let data = try Data(contentsOf: URL(fileURLWithPath: path))
            return try JSONDecoder().decode(CopyFile.self, from: data).snapshot()
        } catch {
            throw RegistryError(
                .storage, "the local registry copy \(path) cannot be read (\(error)); it is rewritten once the "
                    + "registry database is reachable"
            )
        }
    }
}

private struct POSIXFailure: Error, CustomStringConvertible {
    let call: String
    let errno: Int32
    var description: String { "\(call): \(String(cString: strerror(errno)))" }
}

/// The file's layout: plain fields, so a copy stays readable by the next popgate version.
private struct CopyFile: Codable {
    struct CopiedRotation: Codable {
        let publicKey: String
        let presharedKey: String?
        let startedAt: Double
        let deadline: Double
    }

    struct CopiedPeer: Codable {
        let id: Int64
        let tenantID: Int64
        let tenantName: String
        let name: String
        let publicKey: String
        let address: String
        let presharedKey: String?
        let createdAt: Double
        let expiresAt: Double?
        let rotation: CopiedRotation?
    }

    struct CopiedKey: Codable {
        let keyID: String
        let tenantID: Int64
        let secretHash: String
        let defaultTier: String
        let requestsPerMinute: Int?
        let tokensPerMinute: Int?
    }

    var format = 1
    let revision: Int64
    let peers: [CopiedPeer]
    let apiKeys: [CopiedKey]

    init(_ snapshot: RegistrySnapshot) {
        revision = snapshot.revision
        peers = snapshot.activePeers.map { peer in
            CopiedPeer(
                id: peer.id, tenantID: peer.tenantID, tenantName: peer.tenantName, name: peer.name,
                publicKey: peer.publicKey.base64, address: peer.address.description,
                presharedKey: peer.presharedKey?.base64Secret(), createdAt: peer.createdAt.timeIntervalSince1970,
                expiresAt: peer.expiresAt?.timeIntervalSince1970,
                rotation: peer.rotation.map { rotation in
                    CopiedRotation(
                        publicKey: rotation.publicKey.base64, presharedKey: rotation.presharedKey?.base64Secret(),
                        startedAt: rotation.startedAt.timeIntervalSince1970,
                        deadline: rotation.deadline.timeIntervalSince1970
                    )
                }
            )
        }
        apiKeys = snapshot.apiKeysByID.values.sorted { $0.keyID < $1.keyID }.map { key in
            CopiedKey(
                keyID: key.keyID, tenantID: key.tenantID, secretHash: Data(key.secretHash).base64EncodedString(),
                defaultTier: key.defaultTier.rawValue, requestsPerMinute: key.limits.requestsPerMinute,
                tokensPerMinute: key.limits.tokensPerMinute
            )
        }
    }

    func snapshot() throws -> RegistrySnapshot {
        guard format == 1 else { throw CopyFormatError(description: "unknown format \(format)") }
        let peers = try peers.map { copied in
            guard let address = IPAddress(copied.address) else {
                throw CopyFormatError(description: "peer \(copied.name) has no valid address")
            }
            return Peer(
                id: copied.id, tenantID: copied.tenantID, tenantName: copied.tenantName, name: copied.name,
                publicKey: try Curve25519PublicKey(base64: copied.publicKey), address: address,
                presharedKey: try copied.presharedKey.map { text throws(RegistryError) in
                    try WireGuardPresharedKey(base64: text)
                },
                state: .active, createdAt: Date(timeIntervalSince1970: copied.createdAt),
                expiresAt: copied.expiresAt.map(Date.init(timeIntervalSince1970:)),
                rotation: try copied.rotation.map { rotation in
                    PendingRotation(
                        publicKey: try Curve25519PublicKey(base64: rotation.publicKey),
                        presharedKey: try rotation.presharedKey.map { text throws(RegistryError) in
                            try WireGuardPresharedKey(base64: text)
                        },
                        startedAt: Date(timeIntervalSince1970: rotation.startedAt),
                        deadline: Date(timeIntervalSince1970: rotation.deadline)
                    )
                }
            )
        }
        let keys = try apiKeys.map { copied in
            guard let hash = Data(base64Encoded: copied.secretHash), let tier = Tier(rawValue: copied.defaultTier) else {
                throw CopyFormatError(description: "API key \(copied.keyID) is damaged")
            }
            return APIKeyRecord(
                keyID: copied.keyID, tenantID: copied.tenantID, secretHash: [UInt8](hash), defaultTier: tier,
                limits: APIKeyLimits(requestsPerMinute: copied.requestsPerMinute, tokensPerMinute: copied.tokensPerMinute)
            )
        }
        return RegistrySnapshot(revision: revision, peers: peers, apiKeys: keys)
    }
}

private struct CopyFormatError: Error, CustomStringConvertible {
    let description: String
}
