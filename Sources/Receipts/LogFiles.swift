import CLinuxFS
import Foundation

#if canImport(Glibc)
import Glibc
#endif

/// The few file operations the log needs, each retrying EINTR and throwing an error that names the
/// file and the system's reason.
enum LogFiles {
    /// Writes `bytes` to a temporary name in the same directory, fsyncs it when `sync`, and
    /// renames it over `path`: a reader sees the old file or the new one, never a mix.
    static func replace(_ path: String, with bytes: [UInt8], sync: Bool) throws(ReceiptLogError) {
        let temporary = path + ".tmp"
        let fd = try open(temporary, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, mode: 0o640)
        do {
            try writeAll(fd, bytes, path: temporary)
            if sync { try fsync(fd, path: temporary) }
        } catch {
            Glibc.close(fd)
            unlink(temporary)
            throw error
        }
        Glibc.close(fd)
        guard rename(temporary, path) == 0 else {
            let reason = errorText()
            unlink(temporary)
            throw ReceiptLogError("cannot rename \(temporary) to \(path): \(reason)")
        }
    }

    /// Appends `bytes` to `path` (made if missing) and fsyncs it.
    static func append(_ path: String, _ bytes: [UInt8]) throws(ReceiptLogError) {
        let fd = try open(path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, mode: 0o640)
        defer { Glibc.close(fd) }
        try writeAll(fd, bytes, path: path)
        try fsync(fd, path: path)
    }

    /// The file's bytes, or nil when it does not exist.
    static func read(_ path: String) throws(ReceiptLogError) -> [UInt8]? {
        let fd = Glibc.open(path, O_RDONLY | O_CLOEXEC)
        if fd < 0 {
            if errno == ENOENT { return nil }
            throw ReceiptLogError("cannot open \(path): \(errorText())")
        }
        defer { Glibc.close(fd) }
        var out: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 65536)
        while true {
            let count = chunk.withUnsafeMutableBytes { Glibc.read(fd, $0.baseAddress, $0.count) }
            if count < 0 {
                if errno == EINTR { continue }
                throw ReceiptLogError("cannot read \(path): \(errorText())")
            }
            if count == 0 { return out }
            out += chunk[0..<count]
        }
    }

    static func truncate(_ path: String, to length: Int) throws(ReceiptLogError) {
        guard Glibc.truncate(path, off_t(length)) == 0 else {
            throw ReceiptLogError("cannot truncate \(path) to \(length) bytes: \(errorText())")
        }
    }

    static func makeDirectory(_ path: String) throws(ReceiptLogError) {
        do {
            try FileManager.default.createDirectory(
                atPath: path, withIntermediateDirectories: true, attributes: [.posixPermissions: 0o750]
            )
        } catch {
            throw ReceiptLogError("cannot make directory \(path): \(error.localizedDescription)")
        }
    }

    /// Removes a file, or an empty directory; one that is already gone is fine.
    static func remove(_ path: String) {
        if Glibc.unlink(path) != 0, errno == EISDIR { Glibc.rmdir(path) }
    }

    /// The names in a directory; empty when it does not exist.
    static func list(_ path: String) -> [String] {
        (try? FileManager.default.contentsOfDirectory(atPath: path)) ?? []
    }

    /// Makes everything written on the file system holding `directory` durable: one syncfs(2)
    /// for all the bundles, tiles and directories written since the last checkpoint, however
    /// many (an fsync each cost 0.7 ms a file here, and a busy log writes four files per 256
    /// receipts).
    static func syncFileSystem(of directory: String) throws(ReceiptLogError) {
        let fd = try open(directory, O_RDONLY | O_DIRECTORY | O_CLOEXEC, mode: 0)
        defer { Glibc.close(fd) }
        guard popgate_syncfs(fd) == 0 else {
            throw ReceiptLogError("cannot sync the file system of \(directory): \(errorText())")
        }
    }

    static func open(_ path: String, _ flags: Int32, mode: mode_t) throws(ReceiptLogError) -> Int32 {
        while true {
            let fd = Glibc.open(path, flags, mode)
            if fd >= 0 { return fd }
            if errno != EINTR { throw ReceiptLogError("cannot open \(path): \(errorText())") }
        }
    }

    static func writeAll(_ fd: Int32, _ bytes: [UInt8], path: String) throws(ReceiptLogError) {
        var offset = 0
        while offset < bytes.count {
            let count = bytes[offset...].withUnsafeBytes { Glibc.write(fd, $0.baseAddress, $0.count) }
            if count < 0 {
                if errno == EINTR { continue }
                throw ReceiptLogError("cannot write \(path): \(errorText())")
            }
            offset += count
        }
    }

    private static func fsync(_ fd: Int32, path: String) throws(ReceiptLogError) {
        while Glibc.fsync(fd) != 0 {
            if errno != EINTR { throw ReceiptLogError("cannot fsync \(path): \(errorText())") }
        }
    }

    static func errorText() -> String {
        String(cString: strerror(errno))
    }
}

/// A small synced write and removal: whether a log directory can be written again after a
/// failure (a full disk freed, permissions fixed).
public enum LogProbe {
    public static func write(_ path: String) throws {
        try LogFiles.replace(path, with: [UInt8](repeating: 0, count: 4096), sync: true)
        LogFiles.remove(path)
    }
}
