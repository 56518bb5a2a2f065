import Foundation

#if canImport(Glibc)
import Glibc
#endif

/// Writes a file that holds secrets: created new (never overwriting) with mode 0600 from the
/// first byte, so no other user can open it even briefly.
enum SecretFile {
    struct WriteError: Error, CustomStringConvertible {
        let description: String
    }

    static func create(_ path: String, contents: String) throws {
        let fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0o600)
        guard fd >= 0 else {
            throw WriteError(description: "cannot create \(path): \(String(cString: strerror(errno))) (errno \(errno))")
        }
        defer { close(fd) }
        var bytes = Array(contents.utf8)
        defer { for index in bytes.indices { bytes[index] = 0 } }
        var offset = 0
        while offset < bytes.count {
            let written = bytes.withUnsafeBytes { write(fd, $0.baseAddress! + offset, $0.count - offset) }
            if written < 0 {
                if errno == EINTR { continue }
                let code = errno
                unlink(path)
                throw WriteError(description: "cannot write \(path): \(String(cString: strerror(code))) (errno \(code))")
            }
            offset += written
        }
    }
}
