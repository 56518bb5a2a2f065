// What Foundation's NSString, CharacterSet and NSLock did for the package's modules, written out so a module
// needs only FoundationEssentials: full Foundation on Linux brings ICU's locale data (some 40 MB) into every
// binary that links it. Package-visible, so that the modules above Sodium share one copy.

extension Unicode.Scalar {
    /// Foundation's `CharacterSet.whitespacesAndNewlines`: general categories Zs, Zl and Zp, U+0009 to
    /// U+000D, U+0085 and U+200B (zero width space, which Foundation's set has always held).
    package var isWhitespaceOrNewline: Bool {
        switch properties.generalCategory {
        case .spaceSeparator, .lineSeparator, .paragraphSeparator: true
        default: (0x09...0x0D).contains(value) || value == 0x85 || value == 0x200B
        }
    }

    /// Foundation's `CharacterSet.whitespaces`: general category Zs, U+0009 and U+200B.
    package var isSpaceOrTab: Bool {
        value == 0x09 || value == 0x200B || properties.generalCategory == .spaceSeparator
    }
}

extension StringProtocol {
    /// The text without the leading and trailing scalars `test` accepts, as `trimmingCharacters(in:)` trims.
    package func trimmingScalars(where test: (Unicode.Scalar) -> Bool) -> String {
        let scalars = unicodeScalars
        guard let first = scalars.firstIndex(where: { !test($0) }), let last = scalars.lastIndex(where: { !test($0) })
        else { return "" }
        return String(String.UnicodeScalarView(scalars[first...last]))
    }
}

extension String {
    /// The path without its last component, as NSString's `deletingLastPathComponent` gives it for the paths
    /// NSString handles: repeated slashes count as one and a trailing slash is dropped; "/a" gives "/", and a
    /// relative path of one component gives "" (where NSString on Linux traps).
    package var deletingLastPathComponent: String {
        var fixed = ""
        fixed.reserveCapacity(utf8.count)
        var previousWasSlash = false
        for scalar in unicodeScalars {
            if scalar == "/" {
                if previousWasSlash { continue }
                previousWasSlash = true
            } else {
                previousWasSlash = false
            }
            fixed.unicodeScalars.append(scalar)
        }
        if fixed.utf8.count > 1, fixed.hasSuffix("/") { fixed.removeLast() }
        if fixed == "/" || fixed.isEmpty { return fixed }
        guard let lastSlash = fixed.lastIndex(of: "/") else { return "" }
        if lastSlash == fixed.startIndex { return "/" }
        return String(fixed[..<lastSlash])
    }
}
