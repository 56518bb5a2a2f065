extension QRCode {
    /// Light modules a side around the symbol: the minimum ISO/IEC 18004 asks for, which scanners need to
    /// find the finder patterns.
    public static let quietZone = 4

    /// How ``terminalText(colors:)`` makes light modules light.
    public enum TerminalColors: Sendable {
        /// Glyphs only: light modules are drawn in the terminal's text colour and dark ones left as the
        /// background. Right on the usual light-on-dark terminal, inverted on a dark-on-light one.
        case none
        /// The glyphs wrapped in ANSI SGR bright-white-on-black on every line: right on any terminal that
        /// understands SGR colours, whatever its theme. Only for a terminal, not for a file.
        case ansi
    }

    /// The symbol and its quiet zone as terminal text: Unicode half blocks, two module rows per line, so that
    /// modules come out about square in a terminal cell of 1:2.
    ///
    /// Light modules are the drawn ones (full and half blocks); dark modules are blank. Phone scanners
    /// (WireGuard's apps among them) look for dark modules on a light ground and mostly do not try the
    /// inverse, and most terminals draw light text on a dark background: drawing the light modules, quiet
    /// zone included, gives that polarity without relying on colour. ``TerminalColors/ansi`` pins it for
    /// light-themed terminals too. Every line ends in a newline.
    public func terminalText(colors: TerminalColors = .none) -> String {
        let zone = Self.quietZone
        let span = -zone..<(size + zone)
        var text = ""
        var y = -zone
        while y < size + zone {
            if colors == .ansi { text += "\u{1B}[97;40m" }
            for x in span {
                let upper = !isDark(x: x, y: y)
                // Past the last row (the line count is odd) there is nothing to draw: leave it blank.
                let lower = y + 1 < size + zone && !isDark(x: x, y: y + 1)
                switch (upper, lower) {
                case (true, true): text += "\u{2588}"  // full block
                case (true, false): text += "\u{2580}"  // upper half block
                case (false, true): text += "\u{2584}"  // lower half block
                case (false, false): text += " "
                }
            }
            if colors == .ansi { text += "\u{1B}[0m" }
            text += "\n"
            y += 2
        }
        return text
    }
}
