/// Why popgated could not set up TLS from `[tls]`: which file, named by its key, and what is wrong.
public struct TLSSetupError: Error, CustomStringConvertible, Sendable, Equatable {
    /// What is wrong with the file.
    public enum Problem: Sendable, Equatable {
        /// Nothing is at the path.
        case missing
        /// The file is there but could not be opened; the system's reason.
        case unreadable(String)
        /// The path names a directory, not a file.
        case directory
        /// The file holds no PEM certificate.
        case notPEMCertificate
        /// The file holds no unencrypted PEM private key.
        case notPEMPrivateKey
        /// The key is not the private half of the certificate's public key.
        case keyDoesNotMatch(certificateFile: String)
        /// The TLS library refused the configuration for another reason; its words.
        case refused(String)
    }

    /// The configuration key that named the file (`tls.certificate_file`, `tls.private_key_file`).
    public let key: String
    /// The file's path.
    public let file: String
    /// What is wrong.
    public let problem: Problem

    /// Creates an error.
    public init(key: String, file: String, problem: Problem) {
        self.key = key
        self.file = file
        self.problem = problem
    }

    public var description: String {
        let what: String
        switch problem {
        case .missing:
            what = "does not exist; check the path"
        case .unreadable(let reason):
            what = "cannot be opened (\(reason)); check its owner and mode against the user popgated runs as"
        case .directory:
            what = "is a directory; give the path of a PEM file"
        case .notPEMCertificate:
            what = "holds no PEM certificate (-----BEGIN CERTIFICATE-----); put the server certificate first, "
                + "then any intermediates"
        case .notPEMPrivateKey:
            what = "holds no PEM private key (-----BEGIN PRIVATE KEY-----), or the key is encrypted; "
                + "popgated needs it unencrypted (openssl pkey -in KEY -out KEY.pem)"
        case .keyDoesNotMatch(let certificateFile):
            what = "is not the private key of the certificate in \(certificateFile); give the key the certificate "
                + "was issued for"
        case .refused(let reason):
            what = "was refused by the TLS library: \(reason)"
        }
        return "cannot set up TLS: \(key) \(file) \(what) (or remove [tls] to serve plain HTTP inside the tunnel)"
    }
}
