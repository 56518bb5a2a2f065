import ArgumentParser
import Foundation
import Receipts

/// popaudit: checks popgate receipt logs, client-held receipts and checkpoints offline, with
/// nothing but the log's verifier key.
///
/// Exit status: 0 valid, 1 invalid (the first thing wrong is named), 2 a usage error (a missing
/// file, a malformed key).
@main
struct Popaudit: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "popaudit",
        abstract: "Verify popgate receipt logs, client receipts and checkpoints offline.",
        discussion: "Exit status: 0 valid, 1 invalid, 2 usage error.",
        subcommands: [Verify.self, CheckReceipt.self, Consistency.self]
    )

    static func main() {
        do {
            var command = try parseAsRoot()
            try command.run()
        } catch {
            // --help and --version exit 0; anything else that stops a command is a usage error.
            if exitCode(for: error) == .success { exit(withError: error) }
            FileHandle.standardError.write(Data("popaudit: \(fullMessage(for: error))\n".utf8))
            Foundation.exit(2)
        }
    }
}

/// Options every command takes.
struct AuditOptions: ParsableArguments {
    @Option(help: "The log's verifier key (NAME+KEYID+BASE64, from popctl receipts key), or a file holding it.")
    var key: String

    @Flag(help: "Print the result as JSON.")
    var json = false

    func verifier() throws -> NoteVerifier {
        var text = key
        if FileManager.default.fileExists(atPath: key) {
            guard let contents = try? String(contentsOfFile: key, encoding: .utf8) else {
                throw ValidationError("cannot read the key file \(key)")
            }
            text = contents
        }
        do {
            return try NoteVerifier(text)
        } catch {
            throw ValidationError("--key: \(error)")
        }
    }

    /// Prints the outcome and exits 0 when valid, 1 when not.
    func finish(valid: Bool, text: String, fields: [String: Any]) -> Never {
        if json {
            var object = fields
            object["valid"] = valid
            let data = (try? JSONSerialization.data(withJSONObject: object, options: [.sortedKeys, .withoutEscapingSlashes])) ?? Data()
            print(String(decoding: data, as: UTF8.self))
        } else {
            print(valid ? "valid: \(text)" : "INVALID: \(text)")
        }
        Foundation.exit(valid ? 0 : 1)
    }
}

func readFile(_ path: String) throws -> Data {
    guard let data = FileManager.default.contents(atPath: path) else {
        throw ValidationError("cannot read \(path): no such file, or no permission")
    }
    return data
}
