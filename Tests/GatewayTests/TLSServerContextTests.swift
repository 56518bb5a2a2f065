import Foundation
import NIOCore
import NIOEmbedded
import PopConfig
import Testing
@testable import Gateway

/// Test vectors made once with `openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes
/// -subj "/CN=popgate test vector" -addext subjectAltName=IP:10.77.0.1` and `openssl genpkey` (the other key).
/// They protect nothing.
enum TLSVectors {
    static let certificate = """
        -----BEGIN CERTIFICATE-----
        MIIBpDCCAUqgAwIBAgIUZppPm7upa+i2F2SmFXD8GxZpUrIwCgYIKoZIzj0EAwIw
        HjEcMBoGA1UEAwwTcG9wZ2F0ZSB0ZXN0IHZlY3RvcjAgFw0yNjExMjkyMTQwNDla
        GA8yMTI2MTEwNTIxNDA0OVowHjEcMBoGA1UEAwwTcG9wZ2F0ZSB0ZXN0IHZlY3Rv
        cjBZMBMGByqGSM49AgEGCCqGSM49AwEHA0IABJCySDaRTcpgJ0c9ICEoBeEM2lvq
        VdFdrjo1FwXWgab2igry/wIHykvSYAA0r1XKLS1OyPapIoxpTd5PWh9/yKSjZDBi
        MB0GA1UdDgQWBBRZaI530JriqlK9usHTLeMMGmar8DAfBgNVHSMEGDAWgBRZaI53
        0JriqlK9usHTLeMMGmar8DAPBgNVHRMBAf8EBTADAQH/MA8GA1UdEQQIMAaHBApN
        AAEwCgYIKoZIzj0EAwIDSAAwRQIgc2fsFF9kaLfZeTV6uRLE1KymqTwMcbkQ6nQs
        m7aIfdMCIQDglqWuTpO/YnGQWjqXDdfDpg8C9l2dkmoUs1TTz5Y/Zg==
        -----END CERTIFICATE-----

        """
    static let key = """
        -----BEGIN PRIVATE KEY-----
        MIGHAgEAMBMGByqGSM49AgEGCCqGSM49AwEHBG0wawIBAQQg1iBq74+ZnrKAXRUz
        0UX5315RNtfKH9j3T/+H3Z+y0omhRANCAASQskg2kU3KYCdHPSAhKAXhDNpb6lXR
        Xa46NRcF1oGm9ooK8v8CB8pL0mAANK9Vyi0tTsj2qSKMaU3eT1off8ik
        -----END PRIVATE KEY-----

        """
    static let otherKey = """
        -----BEGIN PRIVATE KEY-----
        MIGHAgEAMBMGByqGSM49AgEGCCqGSM49AwEHBG0wawIBAQQgG1H5KdB11TVXewud
        3UYQpRdLxoGFnrg8mEI3HpNV4dahRANCAAR2rYQdChRSF1Xi2yz/ZJLghQJzpzKG
        vtHUcy5peMUqmmZwVWo8SmBEYTgzWT7jb/pvd/sHmrr6GSkgv+AHuHOD
        -----END PRIVATE KEY-----

        """
}

/// A directory of its own per test, removed afterwards.
final class ScratchDirectory {
    let url = FileManager.default.temporaryDirectory.appendingPathComponent("popgate-tls-\(UUID().uuidString)")

    init() throws { try FileManager.default.createDirectory(at: url, withIntermediateDirectories: false) }
    deinit { try? FileManager.default.removeItem(at: url) }

    func write(_ name: String, _ text: String) throws -> String {
        let path = url.appendingPathComponent(name).path
        try text.write(toFile: path, atomically: true, encoding: .utf8)
        return path
    }

    func path(_ name: String) -> String { url.appendingPathComponent(name).path }
}

@Suite struct TLSServerContextTests {
    func problem(certificate: String, key: String) -> TLSSetupError? {
        do {
            _ = try TLSServerContext(settings: TLSSettings(certificateFile: certificate, privateKeyFile: key))
            return nil
        } catch {
            return error
        }
    }

    @Test func aMatchingCertificateAndKeyLoad() throws {
        let scratch = try ScratchDirectory()
        let error = problem(
            certificate: try scratch.write("cert.pem", TLSVectors.certificate),
            key: try scratch.write("key.pem", TLSVectors.key)
        )
        #expect(error == nil, "\(String(describing: error))")
    }

    @Test func eachFileProblemNamesTheFileAndItsKey() throws {
        let scratch = try ScratchDirectory()
        let certificate = try scratch.write("cert.pem", TLSVectors.certificate)
        let key = try scratch.write("key.pem", TLSVectors.key)
        let garbage = try scratch.write("garbage.pem", "not pem at all\n")
        let cases: [(String, String, String, TLSSetupError.Problem)] = [
            (scratch.path("absent.pem"), key, "tls.certificate_file", .missing),
            (certificate, scratch.path("absent.key"), "tls.private_key_file", .missing),
            (scratch.url.path, key, "tls.certificate_file", .directory),
            (garbage, key, "tls.certificate_file", .notPEMCertificate),
            (key, key, "tls.certificate_file", .notPEMCertificate),
            (certificate, garbage, "tls.private_key_file", .notPEMPrivateKey),
            (certificate, certificate, "tls.private_key_file", .notPEMPrivateKey),
            (certificate, try scratch.write("other.pem", TLSVectors.otherKey), "tls.private_key_file",
             .keyDoesNotMatch(certificateFile: certificate)),
        ]
        for (certificateFile, keyFile, configKey, expected) in cases {
            let error = try #require(problem(certificate: certificateFile, key: keyFile))
            #expect(error.problem == expected, "\(error)")
            #expect(error.key == configKey, "\(error)")
            let file = configKey == "tls.certificate_file" ? certificateFile : keyFile
            #expect(error.file == file && error.description.contains(file), "\(error)")
            #expect(error.description.contains(configKey), "\(error)")
        }
    }

    @Test func anUnreadableFileIsToldFromAMissingOne() throws {
        // root reads any file whatever its mode, so this case can only be seen as another user.
        guard getuid() != 0 else { return }
        let scratch = try ScratchDirectory()
        let certificate = try scratch.write("cert.pem", TLSVectors.certificate)
        let key = try scratch.write("key.pem", TLSVectors.key)
        try FileManager.default.setAttributes([.posixPermissions: 0], ofItemAtPath: key)
        let error = try #require(problem(certificate: certificate, key: key))
        guard case .unreadable = error.problem else {
            Issue.record("expected unreadable, got \(error)")
            return
        }
        #expect(error.description.contains("cannot be opened"), "\(error)")
    }

    @Test func theMismatchErrorSaysWhichCertificate() throws {
        let scratch = try ScratchDirectory()
        let certificate = try scratch.write("cert.pem", TLSVectors.certificate)
        let other = try scratch.write("other.pem", TLSVectors.otherKey)
        let error = try #require(problem(certificate: certificate, key: other))
        #expect(error.description.contains("is not the private key of the certificate in \(certificate)"), "\(error)")
        #expect(error.description.contains("remove [tls] to serve plain HTTP"), "\(error)")
    }

    // A client speaking plain HTTP to the TLS listener: the handshake fails and the connection is closed;
    // no HTTP response can come out, as no HTTP handler ever saw a request.
    @Test func plainHTTPToTheTLSHandlerClosesTheConnection() throws {
        let scratch = try ScratchDirectory()
        let tls = try TLSServerContext(settings: TLSSettings(
            certificateFile: try scratch.write("cert.pem", TLSVectors.certificate),
            privateKeyFile: try scratch.write("key.pem", TLSVectors.key)
        ))
        let channel = EmbeddedChannel()
        try tls.addHandler(to: channel.pipeline.syncOperations)
        try channel.connect(to: SocketAddress(ipAddress: "10.77.0.2", port: 40000)).wait()
        #expect(throws: (any Error).self) {
            try channel.writeInbound(ByteBuffer(string: "GET /v1/models HTTP/1.1\r\nHost: 10.77.0.1\r\n\r\n"))
        }
        #expect(try channel.readInbound(as: ByteBuffer.self) == nil)
        while let sent = try channel.readOutbound(as: ByteBuffer.self) {
            #expect(!String(buffer: sent).hasPrefix("HTTP/"), "\(String(buffer: sent))")
        }
        #expect(!channel.isActive)
    }
}
