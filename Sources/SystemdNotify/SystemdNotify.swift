#if canImport(Glibc)
import Glibc
#endif

/// systemd's readiness protocol (sd_notify(3)) without libsystemd: one datagram to the Unix socket
/// named by `NOTIFY_SOCKET`. The units are `Type=notify`, so "started" means what each daemon
/// says it means (popnetd: policy in force and tunnel up; popgated: listening), and a unit ordered
/// after it starts only then. Outside systemd the variable is unset and this does nothing.
public enum SystemdNotify {
    /// Whether the service manager asked to be told (`NOTIFY_SOCKET` is set): a daemon that then
    /// fails to tell it should say so, or systemd kills it at the start timeout without a word.
    public static var isExpected: Bool { getenv("NOTIFY_SOCKET") != nil }

    /// Tells the service manager the daemon is ready. Returns whether a message was sent.
    @discardableResult
    public static func ready() -> Bool { send("READY=1") }

    /// Tells the service manager the daemon is stopping on purpose.
    @discardableResult
    public static func stopping() -> Bool { send("STOPPING=1") }

    static func send(_ state: String) -> Bool {
        guard let socketPath = getenv("NOTIFY_SOCKET").map({ String(cString: $0) }), socketPath.count > 1 else {
            return false
        }
        var address = sockaddr_un()
        address.sun_family = sa_family_t(AF_UNIX)
        // '@' names an abstract socket: its address starts with a NUL byte instead.
        var pathBytes = Array(socketPath.utf8)
        if pathBytes[0] == UInt8(ascii: "@") { pathBytes[0] = 0 }
        let capacity = MemoryLayout.size(ofValue: address.sun_path)
        guard pathBytes.count <= capacity else { return false }
        withUnsafeMutableBytes(of: &address.sun_path) { buffer in
            buffer.copyBytes(from: pathBytes)
        }
        let fd = socket(AF_UNIX, Int32(SOCK_DGRAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        guard fd >= 0 else { return false }
        defer { close(fd) }
        let length = socklen_t(MemoryLayout<sa_family_t>.size + pathBytes.count)
        let sent = state.utf8CString.withUnsafeBufferPointer { message in
            withUnsafePointer(to: &address) { pointer in
                pointer.withMemoryRebound(to: sockaddr.self, capacity: 1) { socketAddress in
                    sendto(fd, message.baseAddress, message.count - 1, Int32(MSG_NOSIGNAL), socketAddress, length)
                }
            }
        }
        return sent == state.utf8.count
    }
}
