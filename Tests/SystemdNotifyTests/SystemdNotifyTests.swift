import Foundation
@testable import SystemdNotify
import Testing

#if canImport(Glibc)
import Glibc
#endif

/// sd_notify's wire format, against a datagram socket standing in for systemd's (the units' real
/// readiness is tested by booting them: test_provisioning.py).
@Suite(.serialized) struct SystemdNotifyTests {
    /// A bound Unix datagram socket at `address` (a path, or '@name' for the abstract namespace).
    private func listen(_ address: String) throws -> Int32 {
        let fd = socket(AF_UNIX, Int32(SOCK_DGRAM.rawValue), 0)
        #expect(fd >= 0)
        var socketAddress = sockaddr_un()
        socketAddress.sun_family = sa_family_t(AF_UNIX)
        var bytes = Array(address.utf8)
        if bytes.first == UInt8(ascii: "@") { bytes[0] = 0 }
        withUnsafeMutableBytes(of: &socketAddress.sun_path) { $0.copyBytes(from: bytes) }
        let length = socklen_t(MemoryLayout<sa_family_t>.size + bytes.count)
        let bound = withUnsafePointer(to: &socketAddress) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, length) }
        }
        #expect(bound == 0, "bind \(address): \(String(cString: strerror(errno)))")
        return fd
    }

    private func receive(_ fd: Int32) -> String {
        var buffer = [UInt8](repeating: 0, count: 256)
        let count = recv(fd, &buffer, buffer.count, Int32(MSG_DONTWAIT))
        return count > 0 ? String(decoding: buffer[0..<count], as: UTF8.self) : ""
    }

    @Test func readyIsOneDatagramToThePathSocket() throws {
        let path = NSTemporaryDirectory() + "popgate-notify-\(UUID().uuidString.prefix(8))"
        let fd = try listen(path)
        defer { close(fd); unlink(path) }
        setenv("NOTIFY_SOCKET", path, 1)
        defer { unsetenv("NOTIFY_SOCKET") }
        #expect(SystemdNotify.ready())
        #expect(receive(fd) == "READY=1")
    }

    @Test func anAbstractSocketIsNamedWithAnAt() throws {
        let name = "@popgate-notify-test-\(UUID().uuidString.prefix(8))"
        let fd = try listen(name)
        defer { close(fd) }
        setenv("NOTIFY_SOCKET", name, 1)
        defer { unsetenv("NOTIFY_SOCKET") }
        #expect(SystemdNotify.stopping())
        #expect(receive(fd) == "STOPPING=1")
    }

    @Test func outsideSystemdNothingIsSent() {
        unsetenv("NOTIFY_SOCKET")
        #expect(!SystemdNotify.ready())
    }
}
