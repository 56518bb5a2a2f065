import PopConfig
import Testing

@Suite struct TLSSettingsTests {
    func parse(_ tls: String) throws(ConfigError) -> PopConfiguration {
        try PopConfiguration.parse(PopConfigurationTests.valid + "\n\n[tls]\n" + tls, path: "/etc/popgate/popgate.toml")
    }

    @Test func withoutTheSectionTheGatewayServesPlainHTTP() throws {
        #expect(try PopConfiguration.parse(PopConfigurationTests.valid).tls == nil)
    }

    @Test func bothPathsAreRead() throws {
        let config = try parse("""
            certificate_file = "/etc/popgate/tls/gateway.pem"
            private_key_file = "/etc/popgate/tls/gateway.key"
            """)
        #expect(config.tls == TLSSettings(
            certificateFile: "/etc/popgate/tls/gateway.pem", privateKeyFile: "/etc/popgate/tls/gateway.key"
        ))
    }

    // The files themselves are popgated's to check when it loads them: parsing reads no file.
    @Test func pathsAreNotOpenedWhileParsing() throws {
        let config = try parse("""
            certificate_file = "/nonexistent/cert.pem"
            private_key_file = "/nonexistent/key.pem"
            """)
        #expect(config.tls?.certificateFile == "/nonexistent/cert.pem")
    }

    static let certificate = "certificate_file = \"/etc/popgate/tls/gateway.pem\""
    static let key = "private_key_file = \"/etc/popgate/tls/gateway.key\""

    static let broken: [(String, String, String)] = [
        ("", "tls.certificate_file", "is required"),
        (key, "tls.certificate_file", "is required"),
        (certificate, "tls.private_key_file", "is required"),
        ("certificate_file = 1\n" + key, "tls.certificate_file", "expected a string"),
        (certificate + "\nprivate_key_file = [\"a\"]", "tls.private_key_file", "expected a string"),
        ("certificate_file = \"\"\n" + key, "tls.certificate_file", "is empty"),
        (certificate + "\nprivate_key_file = \"\"", "tls.private_key_file", "is empty"),
        (certificate + "\n" + key + "\nca_file = \"/etc/ca.pem\"", "tls.ca_file", "unknown key"),
    ]

    @Test(arguments: broken)
    func errorsNameTheKey(_ case_: (String, String, String)) {
        do {
            _ = try parse(case_.0)
            Issue.record("expected an error for \(case_.0)")
        } catch {
            #expect(error.key == case_.1, "\(error)")
            #expect(error.message.contains(case_.2), "\(error)")
        }
    }

    @Test func aMissingKeyErrorSaysHowToGoBackToPlainHTTP() {
        do {
            _ = try parse(Self.certificate)
            Issue.record("a [tls] section without private_key_file was accepted")
        } catch {
            #expect(error.description.hasPrefix("/etc/popgate/popgate.toml"), "\(error)")
            #expect(error.message.contains("remove [tls] to serve plain HTTP"), "\(error)")
        }
    }
}
