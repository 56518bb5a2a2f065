import NIOCore

/// An IP address and TCP port to listen on, written `ADDRESS:PORT` (`[ADDRESS]:PORT` for IPv6).
public struct ListenAddress: Sendable, Equatable, CustomStringConvertible {
    /// The IP address literal, without brackets.
    public var host: String
    /// The TCP port; 0 lets the kernel choose.
    public var port: Int

    /// Creates an address from its parts, checking that `host` is an IP literal and `port` fits.
    public init(host: String, port: Int) throws(SimulatorOptionsError) {
        guard (0...65_535).contains(port) else {
            throw SimulatorOptionsError("listen port \(port) is out of range; use 0...65535 (0 picks a free port)")
        }
        // Only literals: the simulator stands in for a worker on a fixed tunnel address, and a name
        // that resolves to several addresses would make the bound one a surprise.
        guard (try? SocketAddress(ipAddress: host, port: port)) != nil else {
            throw SimulatorOptionsError(
                "listen address '\(host)' is not an IPv4 or IPv6 literal; use e.g. 127.0.0.1:8000 or [::1]:8000"
            )
        }
        self.host = host
        self.port = port
    }

    /// Parses `10.99.0.2:8000` or `[fd00::2]:8000`.
    public init(parsing text: String) throws(SimulatorOptionsError) {
        let usage = "use ADDRESS:PORT, e.g. 127.0.0.1:8000 or [::1]:8000"
        let hostPart: Substring
        let portPart: Substring
        if text.hasPrefix("[") {
            guard let close = text.firstIndex(of: "]"), text[text.index(after: close)...].hasPrefix(":") else {
                throw SimulatorOptionsError("cannot parse listen address '\(text)': \(usage)")
            }
            hostPart = text[text.index(after: text.startIndex)..<close]
            portPart = text[text.index(close, offsetBy: 2)...]
        } else {
            guard let colon = text.lastIndex(of: ":"), text.firstIndex(of: ":") == colon else {
                throw SimulatorOptionsError("cannot parse listen address '\(text)': \(usage) (bracket IPv6 addresses)")
            }
            hostPart = text[..<colon]
            portPart = text[text.index(after: colon)...]
        }
        guard let port = Int(portPart) else {
            throw SimulatorOptionsError("cannot parse the port of listen address '\(text)': \(usage)")
        }
        try self.init(host: String(hostPart), port: port)
    }

    /// The address the way it is parsed: IPv6 in brackets.
    public var description: String {
        host.contains(":") ? "[\(host)]:\(port)" : "\(host):\(port)"
    }

    /// The socket address to bind.
    var socketAddress: SocketAddress {
        get throws { try SocketAddress(ipAddress: host, port: port) }
    }
}
