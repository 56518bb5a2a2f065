import TOMLKit

extension PopConfiguration {
    /// Reads `[tls]`; nil when the section is absent (then the gateway serves plain HTTP).
    ///
    /// Only the paths are checked here: whether the files exist and hold a matching certificate
    /// and key is popgated's to say when it loads them, as popctl and popnetd never read them.
    static func readTLS(
        _ section: TOMLTable?, path: String, locator: SourceLocator
    ) throws(ConfigError) -> TLSSettings? {
        guard let section else { return nil }
        var reader = TableReader(table: section, name: "tls", path: path, locator: locator)
        let certificateFile = try reader.requiredString(
            "certificate_file",
            hint: "the PEM certificate chain popgated serves, e.g. \"/etc/popgate/tls/gateway.pem\"; "
                + "remove [tls] to serve plain HTTP"
        )
        let privateKeyFile = try reader.requiredString(
            "private_key_file",
            hint: "the certificate's PEM private key, e.g. \"/etc/popgate/tls/gateway.key\"; "
                + "remove [tls] to serve plain HTTP"
        )
        for (key, value) in [("certificate_file", certificateFile), ("private_key_file", privateKeyFile)]
        where value.isEmpty {
            throw reader.error(key, "is empty; give the path of a PEM file")
        }
        try reader.rejectUnknownKeys()
        return TLSSettings(certificateFile: certificateFile, privateKeyFile: privateKeyFile)
    }
}
