import Foundation

#if canImport(Glibc)
import Glibc
#endif

/// popnetd's root-only status socket: a Unix stream socket that writes one document to each
/// client that connects and closes. No request is read, so there is no parser to attack.
///
/// Deliberately not a network socket: popnetd never listens on AF_INET or AF_INET6. Served by a
/// blocking poll/accept loop on its own thread (``serve(_:)``), stopped through a pipe.
public final class StatusSocket: @unchecked Sendable {
    // The descriptors never change after init; `closed` is guarded by `lock`.
    private let listener: Int32
    private let wakeRead: Int32
    private let wakeWrite: Int32
    private let lock = NSLock()
    private var closed = false
    /// The socket's path.
    public let path: String

    /// Binds `path` with mode 0600, replacing a stale socket left by a popnetd that crashed.
    ///
    /// Call only while holding popnetd's instance lock: that is what makes a socket at `path`
    /// stale rather than another popnetd's.
    public init(path: String) throws(NetAgentError) {
        self.path = path
        var address = sockaddr_un()
        address.sun_family = sa_family_t(AF_UNIX)
        let capacity = MemoryLayout.size(ofValue: address.sun_path)
        guard path.utf8.count < capacity else {
            throw NetAgentError(
                "the status socket path \(path) is longer than \(capacity - 1) bytes; "
                    + "choose a shorter netd.run_directory"
            )
        }
        withUnsafeMutableBytes(of: &address.sun_path) { buffer in
            buffer.copyBytes(from: path.utf8)
            buffer[path.utf8.count] = 0
        }
        try Self.removeStale(path)

        let fd = socket(AF_UNIX, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        guard fd >= 0 else { throw Self.failure("socket(AF_UNIX) for \(path)") }
        // bind creates the file with the umask applied: 0177 makes it 0600 from the first instant.
        let previousMask = umask(0o177)
        let bound = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                bind(fd, $0, socklen_t(MemoryLayout<sockaddr_un>.size))
            }
        }
        umask(previousMask)
        guard bound == 0, listen(fd, 16) == 0 else {
            let error = Self.failure("binding the status socket \(path)")
            Glibc.close(fd)
            throw error
        }
        // pipe2 and accept4 are GNU extensions Swift's Glibc does not show; fcntl does the same.
        var pipeEnds: [Int32] = [0, 0]
        guard pipe(&pipeEnds) == 0 else {
            let error = Self.failure("pipe for the status socket")
            Glibc.close(fd)
            unlink(path)
            throw error
        }
        for end in pipeEnds { _ = fcntl(end, F_SETFD, FD_CLOEXEC) }
        listener = fd
        wakeRead = pipeEnds[0]
        wakeWrite = pipeEnds[1]
    }

    deinit { close() }

    /// Answers every connection with `document()` until ``stop()``. Blocks: run it on its own thread.
    public func serve(_ document: () -> Data) {
        var descriptors = [listener, wakeRead].map { pollfd(fd: $0, events: Int16(POLLIN), revents: 0) }
        while true {
            let ready = poll(&descriptors, nfds_t(descriptors.count), -1)
            if ready < 0 && errno == EINTR { continue }
            if ready < 0 || descriptors[1].revents != 0 { return }
            guard descriptors[0].revents & Int16(POLLIN) != 0 else { continue }
            let client = accept(listener, nil, nil)
            if client < 0 {
                // Out of descriptors: poll would report the pending connection again at once.
                if errno == EMFILE || errno == ENFILE { usleep(100_000) }
                continue
            }
            _ = fcntl(client, F_SETFD, FD_CLOEXEC)
            answer(client, document)
        }
    }

    /// Makes ``serve(_:)`` return. Safe to call more than once and from any thread.
    public func stop() {
        var byte: UInt8 = 1
        _ = write(wakeWrite, &byte, 1)
    }

    /// Stops serving, closes the socket and removes its file. Safe to call more than once.
    public func close() {
        let wasOpen = lock.withLock {
            defer { closed = true }
            return !closed
        }
        guard wasOpen else { return }
        stop()
        unlink(path)
        Glibc.close(listener)
        Glibc.close(wakeRead)
        Glibc.close(wakeWrite)
    }

    private func answer(_ client: Int32, _ document: () -> Data) {
        defer { Glibc.close(client) }
        // The file mode already keeps others out; the peer's credentials say so again.
        guard let uid = Self.peerUID(client), uid == 0 || uid == geteuid() else { return }
        // A client that never reads must not hold up the next one for long.
        var timeout = timeval(tv_sec: 1, tv_usec: 0)
        setsockopt(client, SOL_SOCKET, SO_SNDTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
        let bytes = document()
        bytes.withUnsafeBytes { buffer in
            var offset = 0
            while offset < buffer.count {
                let written = send(client, buffer.baseAddress! + offset, buffer.count - offset, Int32(MSG_NOSIGNAL))
                if written < 0 && errno == EINTR { continue }
                if written <= 0 { return }
                offset += written
            }
        }
    }

    private static func peerUID(_ fd: Int32) -> uid_t? {
        // struct ucred { pid_t pid; uid_t uid; gid_t gid; }: three 32-bit fields. Swift's Glibc hides
        // the struct (it is behind _GNU_SOURCE), so it is read as three words.
        var credentials: [UInt32] = [0, 0, 0]
        var length = socklen_t(MemoryLayout<UInt32>.size * credentials.count)
        let result = credentials.withUnsafeMutableBytes {
            getsockopt(fd, SOL_SOCKET, SO_PEERCRED, $0.baseAddress, &length)
        }
        guard result == 0, Int(length) == MemoryLayout<UInt32>.size * 3 else { return nil }
        return credentials[1]
    }

    private static func removeStale(_ path: String) throws(NetAgentError) {
        var info = stat()
        guard lstat(path, &info) == 0 else { return }
        guard info.st_mode & S_IFMT == S_IFSOCK else {
            throw NetAgentError("\(path) exists and is not a socket; remove it (popnetd puts its status socket there)")
        }
        guard unlink(path) == 0 else { throw failure("removing the stale status socket \(path)") }
    }

    private static func failure(_ what: String) -> NetAgentError {
        let code = errno
        return NetAgentError("\(what) failed: \(String(cString: strerror(code))) (errno \(code))")
    }
}
