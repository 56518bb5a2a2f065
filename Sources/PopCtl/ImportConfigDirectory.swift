import Foundation

#if canImport(Glibc)
import Glibc
#endif

/// `--output-dir`, checked before anything is registered: required when any config holds a
/// secret, and then a new or empty directory (made with mode 0700 if new), so no config of an
/// earlier import is mixed in or overwritten.
enum ConfigDirectory {
    static func prepare(path: String?, rows: [ImportRow], presharedKeys: Bool) throws(PopctlError) -> String? {
        guard let path else {
            let keyless = rows.filter { $0.publicKey == nil }.count
            if keyless > 0 {
                throw PopctlError(
                    "\(keyless) of \(rows.count) rows have no public_key, so popctl generates their key pairs and "
                        + "must write their configs: give --output-dir DIR (a new or empty directory); "
                        + "nothing was registered"
                )
            }
            if presharedKeys && !rows.isEmpty {
                throw PopctlError(
                    "this PoP issues preshared keys (wireguard.preshared_keys), which only the configs carry: "
                        + "give --output-dir DIR (a new or empty directory); nothing was registered"
                )
            }
            return nil
        }
        var isDirectory: ObjCBool = false
        if FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory) {
            guard isDirectory.boolValue else {
                throw PopctlError("--output-dir: \(path) is a file; give a new or empty directory")
            }
            let entries = (try? FileManager.default.contentsOfDirectory(atPath: path)) ?? []
            guard entries.isEmpty else {
                throw PopctlError(
                    "--output-dir: \(path) is not empty (\(entries.count) entries); give a new or empty directory "
                        + "(configs are never overwritten); nothing was registered"
                )
            }
            guard FileManager.default.isWritableFile(atPath: path) else {
                throw PopctlError("--output-dir: \(path) is not writable; nothing was registered")
            }
        } else {
            do {
                try FileManager.default.createDirectory(
                    atPath: path, withIntermediateDirectories: true, attributes: [.posixPermissions: 0o700]
                )
            } catch {
                throw PopctlError("--output-dir: cannot create \(path): \((error as NSError).localizedDescription)")
            }
        }
        return path
    }
}

/// The configs one batch wrote, removed again if the batch's transaction fails.
final class WrittenConfigs: @unchecked Sendable {
    // Only the registry's writer thread adds, while the importing thread waits for it.
    private let lock = NSLock()
    private var paths: [String] = []

    func add(_ path: String) { lock.withLock { paths.append(path) } }

    func removeAll() {
        lock.withLock {
            for path in paths { unlink(path) }
            paths = []
        }
    }
}
