import Addressing
import Foundation
import NIOSSL
import PopConfig

/// Where a backend's worker is reached: its host and port, whether over TLS, and the `Host`
/// header its requests carry. Parsed once from the configured URL (`http(s)://HOST:PORT`, which
/// the configuration has already checked).
struct WorkerEndpoint: Sendable {
    let host: String
    let port: Int
    /// The client context for an `https` worker, nil for plain HTTP across the backbone.
    let tls: NIOSSLContext?
    let hostHeader: String
    /// The name sent in SNI and checked against the certificate; nil when the host is an address,
    /// which is then checked against the certificate's IP names (SNI carries names only).
    let serverName: String?

    init(url: String) throws {
        guard let parsed = URL(string: url), let host = parsed.host, let scheme = parsed.scheme else {
            throw WorkerEndpointError(url: url)
        }
        let secure = scheme == "https"
        self.host = host
        self.port = parsed.port ?? (secure ? 443 : 80)
        self.tls = secure ? try NIOSSLContext(configuration: .makeClientConfiguration()) : nil
        self.hostHeader = parsed.port.map { "\(host):\($0)" } ?? host
        self.serverName = IPAddress(host) == nil ? host : nil
    }
}

/// A backend URL that names no host.
struct WorkerEndpointError: Error, CustomStringConvertible {
    let url: String
    var description: String { "backend url \"\(url)\" names no host; use http(s)://HOST:PORT" }
}
