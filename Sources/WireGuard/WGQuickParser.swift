import Foundation
import Addressing
import Sodium

extension WGQuickConfig {
    /// A parse failure naming the line and key.
    public struct ParseError: Error, CustomStringConvertible, Sendable, Equatable {
        /// The 1-based line.
        public let line: Int
        /// The key on that line, if there was one.
        public let key: String?
        /// What is wrong.
        public let message: String

        public var description: String { "line \(line)\(key.map { ", \($0)" } ?? ""): \(message)" }
    }

    // wg-quick keys that configure the host rather than the tunnel: accepted and ignored.
    private static let hostKeys: Set<String> = ["preup", "postup", "predown", "postdown", "table", "saveconfig", "fwmark"]

    /// Parses wg-quick text. Keys are case-insensitive, as in wg-quick.
    public static func parse(_ text: String) throws(ParseError) -> WGQuickConfig {
        enum Section { case none, interface, peer }
        var section = Section.none
        var privateKey: Curve25519PrivateKey?
        var addresses: [IPPrefix] = []
        var dns: [String] = []
        var mtu: Int?
        var listenPort: Int?
        var peers: [Peer] = []
        var peerKeys: [Curve25519PublicKey?] = []

        // Any line end, CRLF included: Swift reads "\r\n" as one Character, which splitting on "\n" would not
        // find, so a CRLF file was one long line (found by the fuzzer).
        for (offset, raw) in text.split(omittingEmptySubsequences: false, whereSeparator: \.isNewline).enumerated() {
            let lineNumber = offset + 1
            let content = (raw.firstIndex(of: "#").map { raw[..<$0] } ?? raw).trimmingCharacters(in: .whitespaces)
            if content.isEmpty { continue }
            if content.hasPrefix("[") {
                switch content.lowercased() {
                case "[interface]": section = .interface
                case "[peer]":
                    section = .peer
                    peers.append(Peer(publicKey: try! Curve25519PublicKey(rawBytes: Array(repeating: 0, count: 32)), allowedIPs: []))
                    peerKeys.append(nil)
                default: throw ParseError(line: lineNumber, key: nil, message: "unknown section \(content); use [Interface] or [Peer]")
                }
                continue
            }
            guard let equals = content.firstIndex(of: "=") else {
                throw ParseError(line: lineNumber, key: nil, message: "expected `Key = Value`")
            }
            let key = content[..<equals].trimmingCharacters(in: .whitespaces)
            let value = content[content.index(after: equals)...].trimmingCharacters(in: .whitespaces)
            func fail(_ message: String) -> ParseError { ParseError(line: lineNumber, key: key, message: message) }
            func list() -> [String] { value.split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) } }
            func prefixes() throws(ParseError) -> [IPPrefix] {
                var out: [IPPrefix] = []
                for item in list() {
                    guard let prefix = IPPrefix(item) else { throw fail("\"\(item)\" is not an address prefix such as 10.0.0.2/32") }
                    out.append(prefix)
                }
                return out
            }
            func number(_ range: ClosedRange<Int>) throws(ParseError) -> Int {
                guard let n = Int(value), range.contains(n) else { throw fail("\"\(value)\" is not a number from \(range.lowerBound) to \(range.upperBound)") }
                return n
            }
            switch (section, key.lowercased()) {
            case (.none, _):
                throw fail("key outside a section; put it under [Interface] or [Peer]")
            case (.interface, "privatekey"):
                do { privateKey = try Curve25519PrivateKey(base64: value) } catch { throw fail(error.reason) }
            case (.interface, "address"): addresses += try prefixes()
            case (.interface, "dns"): dns += list()
            case (.interface, "mtu"): mtu = try number(576...65535)
            case (.interface, "listenport"): listenPort = try number(0...65535)
            case (.interface, let lower) where hostKeys.contains(lower): continue
            case (.peer, "publickey"):
                do { peerKeys[peerKeys.count - 1] = try Curve25519PublicKey(base64: value) } catch { throw fail(error.reason) }
            case (.peer, "presharedkey"):
                do { _ = try Curve25519PublicKey(base64: value) } catch { throw fail("a preshared key must be 32 bytes of base64") }
                peers[peers.count - 1].presharedKeyBase64 = value
            case (.peer, "endpoint"):
                guard let endpoint = SocketEndpoint(value) else { throw fail("\"\(value)\" is not HOST:PORT") }
                peers[peers.count - 1].endpoint = endpoint
            case (.peer, "allowedips"): peers[peers.count - 1].allowedIPs += try prefixes()
            case (.peer, "persistentkeepalive"):
                peers[peers.count - 1].persistentKeepalive = value.lowercased() == "off" ? nil : try number(0...65535)
            default:
                throw fail("unknown key in [\(section == .interface ? "Interface" : "Peer")]")
            }
        }
        for (index, key) in peerKeys.enumerated() {
            guard let key else { throw ParseError(line: 1, key: "PublicKey", message: "[Peer] number \(index + 1) has no PublicKey") }
            peers[index].publicKey = key
        }
        return WGQuickConfig(
            interface: Interface(privateKey: privateKey, addresses: addresses, dns: dns, mtu: mtu, listenPort: listenPort),
            peers: peers
        )
    }
}
