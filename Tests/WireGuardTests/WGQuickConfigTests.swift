import Foundation
import Addressing
import Sodium
import Testing
import WireGuard

@Suite struct WGQuickConfigTests {
    static let sample = WGQuickConfig(
        interface: .init(
            privateKey: try! Curve25519PrivateKey(base64: "KBvFkfUKvOaSXmOF+ldrtcwWI1tdrELfN/aqRmRtUE4="),
            addresses: [IPPrefix("10.77.0.2/32")!], mtu: 1420
        ),
        peers: [
            .init(
                publicKey: try! Curve25519PublicKey(base64: "oQ8lnlJq8GdrJ7pyiMJDdaOeYY5Iu+AN3119/GbWSWg="),
                presharedKeyBase64: "zvyeX9jJ3acfEJ+C+Ueu9bxBb70hQ5i63GHCHXlHis4=",
                endpoint: SocketEndpoint("198.51.100.1:51820"), allowedIPs: [IPPrefix("10.77.0.1/32")!],
                persistentKeepalive: 25
            ),
        ]
    )

    @Test func rendersTheUsualLayout() {
        #expect(Self.sample.render() == """
            [Interface]
            PrivateKey = KBvFkfUKvOaSXmOF+ldrtcwWI1tdrELfN/aqRmRtUE4=
            Address = 10.77.0.2/32
            MTU = 1420

            [Peer]
            PublicKey = oQ8lnlJq8GdrJ7pyiMJDdaOeYY5Iu+AN3119/GbWSWg=
            PresharedKey = zvyeX9jJ3acfEJ+C+Ueu9bxBb70hQ5i63GHCHXlHis4=
            Endpoint = 198.51.100.1:51820
            AllowedIPs = 10.77.0.1/32
            PersistentKeepalive = 25

            """)
    }

    @Test func roundTrips() throws {
        let text = Self.sample.render(comment: "a comment\nover two lines")
        let parsed = try WGQuickConfig.parse(text)
        #expect(parsed.render(comment: "a comment\nover two lines") == text)
    }

    /// A file saved with Windows line ends reads as the same config (Swift sees "\r\n" as one Character:
    /// before, the whole file was one line, refused as an unknown section).
    @Test func crlfLineEndsReadAsTheSameConfig() throws {
        let text = Self.sample.render()
        let crlf = try WGQuickConfig.parse(text.replacingOccurrences(of: "\n", with: "\r\n"))
        #expect(crlf.render() == text)
        // A lone CR at the end of a value, and a CRLF after it: the value stops at the line end.
        let config = try WGQuickConfig.parse("[Interface]\nAddress = 10.77.0.2/32\nDNS = 10.69.0.1\r")
        #expect(config.interface.dns == ["10.69.0.1"])
        #expect(try WGQuickConfig.parse(config.render()).render() == config.render())
    }

    @Test func wgStripAcceptsTheRenderedFile() throws {
        // `wg-quick strip` is the real parser clients run; it must accept what popctl prints.
        // wg-quick takes the interface name from the file name: at most 15 characters.
        let path = "/tmp/pgwq\(getpid() % 100_000).conf"
        try Self.sample.render().write(toFile: path, atomically: true, encoding: .utf8)
        defer { unlink(path) }
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/wg-quick")
        process.arguments = ["strip", path]
        let output = Pipe()
        process.standardOutput = output
        process.standardError = Pipe()
        try process.run()
        let data = output.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        #expect(process.terminationStatus == 0)
        #expect(String(decoding: data, as: UTF8.self).contains("AllowedIPs = 10.77.0.1/32"))
    }

    @Test(arguments: [
        ("[Interface]\nPrivateKey = nope\n", 2, "PrivateKey"),
        ("[Interface]\nAddress = 10.0.0.300/32\n", 2, "Address"),
        ("Address = 10.0.0.2/32\n", 1, "Address"),
        ("[Interface]\n\n[Peer]\nAllowedIPs = 10.0.0.1/32\nColour = blue\n", 5, "Colour"),
        ("[Interface]\n[Peer]\nEndpoint = nowhere\n", 3, "Endpoint"),
        ("[Wat]\n", 1, nil),
    ])
    func parseErrorsNameTheLineAndKey(_ text: String, _ line: Int, _ key: String?) {
        do {
            _ = try WGQuickConfig.parse(text)
            Issue.record("expected a parse error")
        } catch {
            #expect(error.line == line)
            #expect(error.key == key)
            #expect(!error.message.isEmpty)
        }
    }
}
