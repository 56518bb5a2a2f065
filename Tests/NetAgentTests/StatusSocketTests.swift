import Foundation
import NetAgent
import Testing

#if canImport(Glibc)
import Glibc
#endif

@Suite struct StatusSocketTests {
    let directory = NSTemporaryDirectory() + "popgate-status-\(UUID().uuidString.prefix(8))"
    var path: String { directory + "/popnetd.sock" }

    init() throws {
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
    }

    /// Serves `document` on a thread until the returned socket is closed.
    func serving(_ document: Data) throws -> StatusSocket {
        let socket = try StatusSocket(path: path)
        Thread { socket.serve { document } }.start()
        return socket
    }

    /// What a client reads: connect, read to the end.
    func fetch() throws -> Data {
        let fd = Glibc.socket(AF_UNIX, Int32(SOCK_STREAM.rawValue), 0)
        defer { close(fd) }
        var address = sockaddr_un()
        address.sun_family = sa_family_t(AF_UNIX)
        withUnsafeMutableBytes(of: &address.sun_path) { buffer in
            buffer.copyBytes(from: path.utf8)
            buffer[path.utf8.count] = 0
        }
        let connected = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                connect(fd, $0, socklen_t(MemoryLayout<sockaddr_un>.size))
            }
        }
        try #require(connected == 0, "connect failed: errno \(errno)")
        var reply = Data()
        var chunk = [UInt8](repeating: 0, count: 4096)
        while true {
            let count = chunk.withUnsafeMutableBytes { read(fd, $0.baseAddress!, $0.count) }
            if count <= 0 { return reply }
            reply.append(contentsOf: chunk[..<count])
        }
    }

    @Test func everyClientGetsTheDocumentFromASocketOnlyItsOwnerMayOpen() throws {
        let socket = try serving(Data("{\"reconciles\":3}\n".utf8))
        defer { socket.close() }
        var info = stat()
        #expect(lstat(path, &info) == 0)
        #expect(info.st_mode & S_IFMT == S_IFSOCK)
        #expect(info.st_mode & 0o777 == 0o600)
        #expect(try fetch() == Data("{\"reconciles\":3}\n".utf8))
        #expect(try fetch() == Data("{\"reconciles\":3}\n".utf8))
    }

    @Test func aStaleSocketIsReplacedAndClosingRemovesTheFile() throws {
        let crashed = try StatusSocket(path: path)
        // A crash leaves the file behind: nothing unlinks it.
        let stale = try serving(Data("old".utf8))
        stale.stop()
        withExtendedLifetime(crashed) {}
        let socket = try serving(Data("new".utf8))
        #expect(try fetch() == Data("new".utf8))
        socket.close()
        #expect(!FileManager.default.fileExists(atPath: path))
        socket.close()
    }

    @Test func somethingElseAtThePathIsNeverRemoved() throws {
        try "not a socket".write(toFile: path, atomically: true, encoding: .utf8)
        #expect { try StatusSocket(path: path) } throws: { error in
            (error as? NetAgentError)?.message.contains("is not a socket") == true
        }
        #expect(try String(contentsOfFile: path, encoding: .utf8) == "not a socket")
    }

    @Test func theDocumentHasSnakeCaseKeysExplicitNullsAndNoSecrets() throws {
        let document = StatusDocument(backend: "userspace", interface: "wg-edge", listenPort: 51820, publicKey: "pub")
        let object = try #require(try JSONSerialization.jsonObject(with: document.encoded()) as? [String: Any])
        #expect(Set(object.keys) == [
            "backend", "interface", "listen_port", "public_key", "peers_desired", "peers_on_device",
            "rotations_pending", "registry_revision", "registry_state", "registry_degraded_since", "registry_error",
            "last_reconcile", "last_error", "drift_repairs", "reconciles",
            "peers", "firewall", "firewall_peers", "firewall_repairs", "firewall_error",
        ])
        #expect(object["firewall"] as? Bool == false)
        #expect(object["last_error"] is NSNull)
        #expect(object["last_reconcile"] is NSNull)
        #expect(document.encoded().last == UInt8(ascii: "\n"))
    }
}
