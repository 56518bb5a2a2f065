/// The `[tls]` section: popgated speaks HTTPS inside the tunnel with this certificate and key.
///
/// WireGuard already encrypts and authenticates the peer; TLS on top lets a client check that it
/// reached this PoP's gateway (and not something else holding the tunnel address) with the same
/// certificate checks it makes everywhere else, and keeps requests encrypted past the tunnel's
/// end on the PoP. Without the section the gateway serves plain HTTP.
public struct TLSSettings: Sendable, Equatable {
    /// The PEM file with the server certificate first, then any intermediate certificates.
    public var certificateFile: String
    /// The PEM file with the certificate's private key (unencrypted; keep it mode 0600).
    public var privateKeyFile: String

    /// Creates the settings.
    public init(certificateFile: String, privateKeyFile: String) {
        self.certificateFile = certificateFile
        self.privateKeyFile = privateKeyFile
    }
}
