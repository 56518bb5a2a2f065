import NIOHTTP1

extension HTTPRequestHead {
    /// Whether the connection may serve another request after this one: the client did not ask to
    /// close it, and did not ask to upgrade the protocol. NIO's parser, like llhttp under it, reads
    /// nothing after a CONNECT or a `Connection: upgrade` request; the gateway ignores the upgrade
    /// (RFC 9110, section 7.8 lets a server) and answers in HTTP/1.1, then closes.
    var keepsConnection: Bool { isKeepAlive && !asksToUpgrade }

    var asksToUpgrade: Bool {
        method == .CONNECT
            || (headers[canonicalForm: "connection"].contains { $0.lowercased() == "upgrade" } && headers.contains(name: "upgrade"))
    }
}
