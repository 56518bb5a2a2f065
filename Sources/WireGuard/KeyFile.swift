import Foundation
import Sodium

/// The PoP's WireGuard private key on disk: base64 as `wg genkey` writes it, mode 0600.
public enum KeyFile {
    /// Reads the key; the error says how to create one.
    public static func load(_ path: String) throws(WireGuardError) -> Curve25519PrivateKey {
        guard let data = FileManager.default.contents(atPath: path) else {
            throw WireGuardError(
                "cannot read the WireGuard private key at \(path) (wireguard.private_key_file); popnetd creates it on "
                    + "first start, or create it with `umask 077; wg genkey > \(path)`"
            )
        }
        var bytes = [UInt8](data)
        defer { for index in bytes.indices { bytes[index] = 0 } }
        do {
            return try Curve25519PrivateKey(base64: String(decoding: bytes, as: UTF8.self))
        } catch {
            throw WireGuardError("the WireGuard private key at \(path) is malformed: \(error.reason)")
        }
    }

    /// Reads the key, first creating a fresh one (mode 0600, directory 0700) when none exists.
    public static func loadOrCreate(_ path: String) throws(WireGuardError) -> Curve25519PrivateKey {
        if !FileManager.default.fileExists(atPath: path) {
            let key = Curve25519PrivateKey()
            // The umask keeps the file private from the moment it exists, not just after chmod.
            let previousMask = umask(0o077)
            defer { umask(previousMask) }
            do {
                let directory = (path as NSString).deletingLastPathComponent
                try FileManager.default.createDirectory(
                    atPath: directory, withIntermediateDirectories: true, attributes: [.posixPermissions: 0o700]
                )
                let created = FileManager.default.createFile(
                    atPath: path, contents: Data((key.base64Secret() + "\n").utf8), attributes: [.posixPermissions: 0o600]
                )
                guard created else { throw CocoaError(.fileWriteNoPermission) }
            } catch {
                throw WireGuardError("cannot create the WireGuard private key at \(path): \(error)")
            }
        }
        return try load(path)
    }
}
