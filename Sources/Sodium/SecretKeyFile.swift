import CSodium
import Foundation

#if canImport(Glibc)
import Glibc
#endif

/// A 32-byte secret kept in a file as base64, readable by its owner only; made on first use.
public enum SecretKeyFile {
    /// The secret at `path`, creating it (and its directory, 0700) when missing. Refuses a file
    /// others may read, or one that does not hold 32 bytes of base64, saying what to do.
    public static func loadOrCreate(_ path: String, byteCount: Int = 32) throws(SodiumError) -> SecretBytes {
        var info = stat()
        if stat(path, &info) == 0 {
            guard info.st_mode & 0o077 == 0 else {
                throw SodiumError("\(path) may be read by others (mode \(String(info.st_mode & 0o777, radix: 8))); chmod 600 it")
            }
            guard let text = try? String(contentsOfFile: path, encoding: .utf8),
                  let data = Data(base64Encoded: text.trimmingCharacters(in: .whitespacesAndNewlines)),
                  data.count == byteCount
            else {
                throw SodiumError("\(path) does not hold \(byteCount) bytes of base64; remove it to have a new one made")
            }
            var bytes = [UInt8](data)
            defer { bytes.withUnsafeMutableBytes { sodium_memzero($0.baseAddress!, $0.count) } }
            return SecretBytes(copying: bytes)
        }
        let secret = SecretBytes(randomCount: byteCount)
        let directory = (path as NSString).deletingLastPathComponent
        if !directory.isEmpty {
            try? FileManager.default.createDirectory(
                atPath: directory, withIntermediateDirectories: true, attributes: [.posixPermissions: 0o700]
            )
        }
        let fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0o600)
        guard fd >= 0 else {
            throw SodiumError("cannot create \(path): \(String(cString: strerror(errno))); check the directory")
        }
        defer { close(fd) }
        let text = secret.withUnsafeBytes { Data($0).base64EncodedString() } + "\n"
        let written = text.utf8CString.withUnsafeBufferPointer { write(fd, $0.baseAddress, $0.count - 1) }
        guard written == text.utf8.count else {
            throw SodiumError("cannot write \(path): \(String(cString: strerror(errno)))")
        }
        return secret
    }
}
