import PopConfig

/// `popgate.toml` as both daemons load it (``PopConfiguration/parse(_:path:)``): any text is a
/// configuration or a ``ConfigError`` that says where, never a crash.
enum PopConfigTarget {
    static let target = FuzzTarget(
        name: "popgate-toml", summary: "popgate.toml through TOMLKit and the configuration loader", run: run
    )

    static func run(_ data: UnsafeRawBufferPointer) {
        let text = String(decoding: data, as: UTF8.self)
        guard !TOMLPlusPlusKnownBug.triggers(text) else { return }
        do {
            let configuration = try PopConfiguration.parse(text)
            FuzzCheck.require(!configuration.backends.isEmpty, "a configuration without backends was accepted")
        } catch {
            FuzzCheck.require(!error.description.isEmpty, "a configuration error says nothing")
        }
    }
}

/// toml++ 3.4.0 (bundled by TOMLKit 0.6.0) enters `parse_key()` from a table header whose key
/// starts with a character that can start no key (`[[=`, `[[[a]]]`, `[ [a]]`, `[` and a line break,
/// `[` and a combining mark, also right after a byte order mark): a failed assertion in a debug build,
/// an unmet `__builtin_assume` in a release one. Fixed upstream in marzer/tomlplusplus#301, not yet in
/// a TOMLKit release. The target skips such headers so that a run finds what else there is; the fuzz
/// report lists the bug.
///
/// The check reads Unicode scalars, as toml++ does: Swift's characters would join `[` with a
/// combining mark after it, or `\r` with `\n`, and hide the header.
enum TOMLPlusPlusKnownBug {
    static func triggers(_ text: String) -> Bool {
        var scalars = text.unicodeScalars[...]
        // toml++ skips a byte order mark at the start of the document, so a header may follow it directly.
        if scalars.first == "\u{FEFF}" { scalars = scalars.dropFirst() }
        func isBlank(_ scalar: Unicode.Scalar) -> Bool { scalar == " " || scalar == "\t" }
        for line in scalars.split(whereSeparator: { $0 == "\n" || $0 == "\r" }) {
            var rest = line.drop(while: isBlank)
            guard rest.first == "[" else { continue }
            rest = rest.dropFirst().drop(while: isBlank)
            if rest.first == "[" { rest = rest.dropFirst().drop(while: isBlank) }
            // A line break is no key start either (`[` then a new line).
            guard let first = rest.first else { return true }
            let startsKey = first.isASCII
                && (first.properties.isAlphabetic || ("0"..."9").contains(first) || first == "_" || first == "-")
            if !startsKey, first != "\"", first != "'", first != "]" { return true }
        }
        return false
    }
}
