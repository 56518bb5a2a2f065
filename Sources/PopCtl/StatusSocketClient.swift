import Foundation

#if canImport(Glibc)
import Glibc
#endif

/// Reads popnetd's status socket: connect, read one document to the end, close.
enum StatusSocketClient {
    /// At most this long for the whole reply: popnetd answers from memory.
    static let timeoutSeconds = 2
    /// Generous for 10,000 peers (about 2 MB).
    static let limit = 64 << 20

    /// The raw document; the error says why popnetd could not be asked and what to do.
    static func fetch(_ path: String) throws(PopctlError) -> Data {
        var address = sockaddr_un()
        address.sun_family = sa_family_t(AF_UNIX)
        let capacity = MemoryLayout.size(ofValue: address.sun_path)
        guard path.utf8.count < capacity else { throw PopctlError("the status socket path \(path) is too long") }
        withUnsafeMutableBytes(of: &address.sun_path) { buffer in
            buffer.copyBytes(from: path.utf8)
            buffer[path.utf8.count] = 0
        }
        let fd = socket(AF_UNIX, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        guard fd >= 0 else { throw PopctlError("cannot create a Unix socket: \(String(cString: strerror(errno)))") }
        defer { close(fd) }
        var timeout = timeval(tv_sec: timeoutSeconds, tv_usec: 0)
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
        var connected: Int32
        repeat {
            connected = withUnsafePointer(to: &address) {
                $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                    connect(fd, $0, socklen_t(MemoryLayout<sockaddr_un>.size))
                }
            }
        } while connected != 0 && errno == EINTR
        guard connected == 0 else { throw connectFailure(path, errno) }

        var reply = Data()
        var chunk = [UInt8](repeating: 0, count: 65536)
        while true {
            let count = chunk.withUnsafeMutableBytes { read(fd, $0.baseAddress!, $0.count) }
            if count == 0 { return reply }
            if count < 0 {
                if errno == EINTR { continue }
                let code = errno
                let why = code == EAGAIN || code == EWOULDBLOCK
                    ? "no complete answer within \(timeoutSeconds) s" : String(cString: strerror(code))
                throw PopctlError("reading popnetd's status from \(path) failed: \(why); check popnetd's log")
            }
            reply.append(contentsOf: chunk[..<count])
            guard reply.count <= limit else { throw PopctlError("popnetd's status on \(path) exceeds \(limit) bytes") }
        }
    }

    private static func connectFailure(_ path: String, _ code: Int32) -> PopctlError {
        switch code {
        case ENOENT:
            PopctlError("popnetd is not running (no status socket at \(path)); start it, or check netd.run_directory")
        case ECONNREFUSED:
            PopctlError("popnetd is not running (nobody answers on \(path)); start it")
        case EACCES, EPERM:
            PopctlError("permission denied on \(path): popnetd's status socket is root-only; run popctl as root")
        default:
            PopctlError("cannot connect to popnetd at \(path): \(String(cString: strerror(code))) (errno \(code))")
        }
    }
}
