import Foundation
import QRCode
import Testing

/// The matrix against the `qrencode` tool (the same libqrencode, through its own command line), module by
/// module, and the terminal rendering against the matrix.
@Suite struct QRCodeTests {
    static let wireGuardConfig = """
        # popgate pop-1: peer phone of tenant acme
        [Interface]
        PrivateKey = gI6EdUSYvn8ugXOt8QQD6Yc+JyiZxIhp3GInSWRfWGE=
        Address = 10.77.0.2/32
        MTU = 1420

        [Peer]
        PublicKey = HIgo9xNzJMWLKASShiTqIybxZ0U3wGLiUeJ1PKf8ykw=
        PresharedKey = FpCyhws9cxwWoV4xELtfJvjJN+zQVRPISllRWgeopVE=
        Endpoint = 198.51.100.1:51820
        AllowedIPs = 10.77.0.1/32
        PersistentKeepalive = 25

        """

    static let texts: [String] = [
        "HELLO WORLD",  // alphanumeric mode
        "0123456789012345",  // numeric mode
        "mixed 123 ABC, lower case and ünïcödé ✓",  // several segments, multi-byte UTF-8
        wireGuardConfig,  // what popctl shows: newlines, base64, a trailing newline
        String(repeating: "popgate ", count: 120),  // a larger version, with version information blocks
    ]

    static let cases: [(String, QRCode.ErrorCorrection)] = texts.flatMap { text in
        QRCode.ErrorCorrection.allCases.map { (text, $0) }
    }

    @Test(arguments: cases) func matchesTheQrencodeTool(text: String, correction: QRCode.ErrorCorrection) throws {
        let code = try QRCode(encoding: text, correction: correction)
        let reference = try QrencodeTool.matrix(of: text, correction: correction)
        try #require(code.size == reference.count, "qrencode made a \(reference.count)-module symbol")
        try #require(reference.allSatisfy { $0.count == code.size }, "qrencode's rows are not all square")
        #expect(code.size == 17 + 4 * code.version)
        var differing: [String] = []
        for y in 0..<code.size {
            for x in 0..<code.size where code.isDark(x: x, y: y) != reference[y][x] {
                differing.append("(\(x), \(y))")
            }
        }
        #expect(differing.isEmpty, "modules differ from qrencode at \(differing.prefix(10).joined(separator: " "))")
    }

    @Test func theQuietZoneIsLight() throws {
        let code = try QRCode(encoding: "HELLO WORLD")
        #expect(code.size == 21)
        // The top-left finder pattern's corner is dark; everything just outside the symbol is light.
        #expect(code.isDark(x: 0, y: 0))
        #expect(!code.isDark(x: -1, y: 0) && !code.isDark(x: 0, y: -1) && !code.isDark(x: 21, y: 20))
    }

    @Test func textTooLongForAnyVersionIsRefusedSayingSo() {
        let text = String(repeating: "ø", count: 2_000)  // 4,000 bytes; version 40-M holds 2,331
        #expect { try QRCode(encoding: text, correction: .medium) } throws: { error in
            let reason = (error as? QRCodeError)?.reason ?? ""
            return reason.contains("4000 bytes") && reason.contains("version 40")
        }
    }

    @Test func aNulCharacterIsRefused() {
        #expect(throws: QRCodeError.self) { try QRCode(encoding: "a\u{0}b") }
    }

    @Test(arguments: texts) func theTerminalTextDrawsEveryModuleAndTheQuietZone(text: String) throws {
        let code = try QRCode(encoding: text, correction: .medium)
        let lines = code.terminalText().split(separator: "\n", omittingEmptySubsequences: false).dropLast()
        let side = code.size + 2 * QRCode.quietZone
        #expect(code.terminalText().hasSuffix("\n"))
        #expect(lines.count == (side + 1) / 2)
        #expect(lines.allSatisfy { $0.count == side })
        #expect(lines.first == Substring(String(repeating: "\u{2588}", count: side)))
        // Read the half blocks back: the drawn (light) halves must be exactly the light modules.
        for (row, line) in lines.enumerated() {
            for (column, glyph) in line.enumerated() {
                let (x, y) = (column - QRCode.quietZone, 2 * row - QRCode.quietZone)
                let upperLight = glyph == "\u{2588}" || glyph == "\u{2580}"
                let lowerLight = glyph == "\u{2588}" || glyph == "\u{2584}"
                #expect(upperLight == !code.isDark(x: x, y: y), "line \(row), column \(column)")
                if y + 1 < code.size + QRCode.quietZone {
                    #expect(lowerLight == !code.isDark(x: x, y: y + 1), "line \(row), column \(column)")
                } else {
                    #expect(!lowerLight, "the half line below the quiet zone is left blank")
                }
            }
        }
    }

    @Test func ansiColoursWrapEachLineAndChangeNoGlyph() throws {
        let code = try QRCode(encoding: Self.wireGuardConfig)
        let plain = code.terminalText().split(separator: "\n")
        let coloured = code.terminalText(colors: .ansi).split(separator: "\n")
        #expect(coloured.count == plain.count)
        for (colouredLine, plainLine) in zip(coloured, plain) {
            #expect(colouredLine == "\u{1B}[97;40m" + plainLine + "\u{1B}[0m")
        }
    }
}

/// Runs the `qrencode` tool (Debian `qrencode`, installed by `make deps`). Missing, it fails the test: it is a
/// declared prerequisite.
enum QrencodeTool {
    /// The symbol `qrencode` makes of `text` (read from standard input, so the bytes are exactly these), as rows
    /// of true for dark: `-t ASCII` draws each module as two characters, `##` dark and two spaces light.
    static func matrix(of text: String, correction: QRCode.ErrorCorrection) throws -> [[Bool]] {
        let level = switch correction {
        case .low: "L"
        case .medium: "M"
        case .quartile: "Q"
        case .high: "H"
        }
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/qrencode")
        process.arguments = ["-t", "ASCII", "-l", level, "-m", "0", "-o", "-"]
        let stdin = Pipe()
        let stdout = Pipe()
        process.standardInput = stdin
        process.standardOutput = stdout
        do {
            try process.run()
        } catch {
            throw ToolFailed(description: "cannot run /usr/bin/qrencode (\(error)); `make deps` installs it")
        }
        stdin.fileHandleForWriting.write(Data(text.utf8))
        try stdin.fileHandleForWriting.close()
        let output = String(decoding: stdout.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        process.waitUntilExit()
        guard process.terminationStatus == 0 else {
            throw ToolFailed(description: "qrencode -l \(level) exited with status \(process.terminationStatus)")
        }
        return try output.split(separator: "\n").map { line in
            let cells = Array(line)
            guard cells.count.isMultiple(of: 2) else {
                throw ToolFailed(description: "unexpected qrencode -t ASCII line: \(line)")
            }
            return stride(from: 0, to: cells.count, by: 2).map { cells[$0] == "#" }
        }
    }
}

struct ToolFailed: Error, CustomStringConvertible {
    let description: String
}
