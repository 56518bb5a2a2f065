import NIOCore
import NIOSSL
import PopConfig

#if canImport(Glibc)
import Glibc
#endif

/// HTTPS inside the tunnel: the certificate chain and key of `[tls]`, loaded and checked once at
/// start, and a fresh server handler for each peer connection.
///
/// Loading happens before popgated listens, so a wrong path, a file that is not PEM or a key
/// that is not the certificate's stops the daemon at start with the file named, never at the
/// first client's handshake.
public struct TLSServerContext: Sendable {
    private let context: NIOSSLContext

    /// Reads and checks the files `settings` names; does blocking file I/O, so call it at start.
    public init(settings: TLSSettings) throws(TLSSetupError) {
        let certificateKey = "tls.certificate_file", privateKeyKey = "tls.private_key_file"
        try Self.checkOpenable(settings.certificateFile, key: certificateKey)
        try Self.checkOpenable(settings.privateKeyFile, key: privateKeyKey)
        let chain: [NIOSSLCertificate]
        do {
            chain = try NIOSSLCertificate.fromPEMFile(settings.certificateFile)
        } catch {
            throw TLSSetupError(key: certificateKey, file: settings.certificateFile, problem: .notPEMCertificate)
        }
        let privateKey: NIOSSLPrivateKey
        do {
            privateKey = try NIOSSLPrivateKey(file: settings.privateKeyFile, format: .pem)
        } catch {
            throw TLSSetupError(key: privateKeyKey, file: settings.privateKeyFile, problem: .notPEMPrivateKey)
        }
        var configuration = TLSConfiguration.makeServerConfiguration(
            certificateChain: chain.map { .certificate($0) }, privateKey: .privateKey(privateKey)
        )
        configuration.minimumTLSVersion = .tlsv12
        // HTTP/1.1 is all the gateway speaks; a client offering only h2 fails the handshake rather than
        // sending frames the HTTP/1.1 decoder would answer with 400.
        configuration.applicationProtocols = ["http/1.1"]
        do {
            context = try NIOSSLContext(configuration: configuration)
        } catch NIOSSLError.failedToLoadPrivateKey {
            // Both files parsed on their own, so what BoringSSL refuses is the pair: it checks that
            // the key is the private half of the leaf certificate's public key.
            throw TLSSetupError(
                key: privateKeyKey, file: settings.privateKeyFile,
                problem: .keyDoesNotMatch(certificateFile: settings.certificateFile)
            )
        } catch {
            throw TLSSetupError(key: certificateKey, file: settings.certificateFile, problem: .refused("\(error)"))
        }
    }

    /// Puts a TLS server handler first in a peer connection's pipeline: every handler after it sees
    /// plain HTTP. A handshake that fails (a client speaking plain HTTP here) closes the connection.
    func addHandler(to pipeline: ChannelPipeline.SynchronousOperations) throws {
        try pipeline.addHandler(NIOSSLServerHandler(context: context), position: .first)
    }

    /// Tells a missing file from an unreadable one before the TLS library, which reports both as a
    /// failure to load.
    private static func checkOpenable(_ path: String, key: String) throws(TLSSetupError) {
        let descriptor = open(path, O_RDONLY | O_CLOEXEC)
        guard descriptor >= 0 else {
            let code = errno
            let problem: TLSSetupError.Problem = code == ENOENT || code == ENOTDIR
                ? .missing : .unreadable(String(cString: strerror(code)))
            throw TLSSetupError(key: key, file: path, problem: problem)
        }
        defer { close(descriptor) }
        var status = stat()
        if fstat(descriptor, &status) == 0, status.st_mode & S_IFMT == S_IFDIR {
            throw TLSSetupError(key: key, file: path, problem: .directory)
        }
    }
}
