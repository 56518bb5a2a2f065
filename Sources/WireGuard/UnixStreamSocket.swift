#if canImport(Glibc)
import Glibc
#endif

/// A blocking AF_UNIX stream connection, enough for one UAPI request/reply.
///
/// Every syscall goes through ``retrying(_:what:_:)``, which retries EINTR and turns failure
/// into a ``WireGuardError`` carrying errno and what was attempted.
struct UnixStreamSocket: ~Copyable {
    private let fd: Int32
    private let path: String

    init(connectingTo path: String) throws(WireGuardError) {
        self.path = path
        let fd = Int32(try Self.retrying("socket(AF_UNIX)", path) { socket(AF_UNIX, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0) })
        var address = sockaddr_un()
        address.sun_family = sa_family_t(AF_UNIX)
        let capacity = MemoryLayout.size(ofValue: address.sun_path)
        guard path.utf8.count < capacity else {
            close(fd)
            throw WireGuardError("the socket path \(path) is longer than \(capacity - 1) bytes")
        }
        withUnsafeMutableBytes(of: &address.sun_path) { buffer in
            buffer.copyBytes(from: path.utf8)
            buffer[path.utf8.count] = 0
        }
        let connected = Result { () throws(WireGuardError) in
            try Self.retrying("connect", path) {
                withUnsafePointer(to: &address) {
                    $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, socklen_t(MemoryLayout<sockaddr_un>.size)) }
                }
            }
        }
        if case .failure(let error) = connected {
            close(fd)
            throw error
        }
        self.fd = fd
    }

    deinit { close(fd) }

    func writeAll(_ text: String) throws(WireGuardError) {
        var bytes = Array(text.utf8)
        defer { for index in bytes.indices { bytes[index] = 0 } }  // requests may carry keys
        var offset = 0
        while offset < bytes.count {
            let written = try Self.retrying("write", path) {
                bytes.withUnsafeBytes { buffer in write(fd, buffer.baseAddress! + offset, buffer.count - offset) }
            }
            offset += written
        }
    }

    /// Reads until the reply's terminating empty line ("\n\n") or end of stream.
    func readReply(limit: Int = 64 << 20) throws(WireGuardError) -> String {
        var reply: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 65536)
        while !(reply.count >= 2 && reply[reply.count - 2] == 10 && reply[reply.count - 1] == 10) {
            let count = try Self.retrying("read", path) {
                chunk.withUnsafeMutableBytes { buffer in read(fd, buffer.baseAddress!, buffer.count) }
            }
            if count == 0 { break }
            reply.append(contentsOf: chunk[..<count])
            guard reply.count <= limit else { throw WireGuardError("the UAPI reply on \(path) exceeds \(limit) bytes") }
        }
        return String(decoding: reply, as: UTF8.self)
    }

    private static func retrying<T: BinaryInteger>(_ what: String, _ path: String, _ call: () -> T) throws(WireGuardError) -> Int {
        while true {
            let result = call()
            if result >= 0 { return Int(result) }
            let code = errno
            if code == EINTR { continue }
            let hint = code == ENOENT || code == ECONNREFUSED ? "; is wireguard-go running for this interface?" : ""
            throw WireGuardError("\(what) on \(path) failed: \(String(cString: strerror(code))) (errno \(code))\(hint)", errno: code)
        }
    }
}
