import Foundation

#if canImport(Glibc)
import Glibc
#endif

/// An exclusive lock file that keeps a second popnetd from fighting the first over the device.
///
/// flock(2) is released by the kernel when the process dies, so a crash never leaves a stale lock.
public final class InstanceLock: Sendable {
    private let fd: Int32
    /// The lock file.
    public let path: String

    /// Takes the lock or throws, saying who holds it.
    public init(path: String) throws(NetAgentError) {
        self.path = path
        let directory = (path as NSString).deletingLastPathComponent
        do {
            try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true, attributes: [.posixPermissions: 0o700])
        } catch {
            throw NetAgentError("cannot create the run directory \(directory) (netd.run_directory): \(error)")
        }
        let fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0o600)
        guard fd >= 0 else {
            throw NetAgentError("cannot open the lock file \(path): \(String(cString: strerror(errno))) (errno \(errno))")
        }
        var result: Int32
        repeat { result = flock(fd, LOCK_EX | LOCK_NB) } while result != 0 && errno == EINTR
        guard result == 0 else {
            let code = errno
            let holder = (try? String(contentsOfFile: path, encoding: .utf8))?.trimmingCharacters(in: .whitespacesAndNewlines)
            close(fd)
            if code == EWOULDBLOCK {
                throw NetAgentError(
                    "popnetd is already running (pid \(holder.flatMap { $0.isEmpty ? nil : $0 } ?? "unknown") holds \(path)); "
                        + "stop it first, or give this instance another netd.run_directory"
                )
            }
            throw NetAgentError("cannot lock \(path): \(String(cString: strerror(code))) (errno \(code))")
        }
        ftruncate(fd, 0)
        let pid = "\(getpid())\n"
        _ = pid.withCString { write(fd, $0, strlen($0)) }
        self.fd = fd
    }

    deinit { close(fd) }
}
