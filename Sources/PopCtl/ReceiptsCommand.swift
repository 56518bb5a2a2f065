import ArgumentParser
import Foundation
import PopConfig
import Receipts
import Sodium

struct ReceiptsCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "receipts", abstract: "The receipt log: its verifier key, and exports for auditors.",
        subcommands: [Key.self, Export.self]
    )

    struct Key: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Print the receipt log's verifier key, for clients and auditors (popaudit --key).",
            discussion: "Read from receipts.signing_key_file, which popgated makes on its first start."
        )

        @OptionGroup var options: GlobalOptions

        func run() throws {
            let settings = try options.loadConfiguration().receipts
            guard FileManager.default.fileExists(atPath: settings.signingKeyFile) else {
                throw PopctlError(
                    "\(settings.signingKeyFile) does not exist yet: popgated makes it on its first start (receipts.signing_key_file)"
                )
            }
            let seed = try SecretKeyFile.loadOrCreate(settings.signingKeyFile)
            print(try NoteSigner(name: settings.origin, key: Ed25519PrivateKey(seed: seed)).verifier)
        }
    }

    struct Export: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Copy the receipt log into a new directory, for an auditor (popaudit verify DIR).",
            discussion: "Safe while popgated runs: the copy holds at least every entry its checkpoint signs."
        )

        @OptionGroup var options: GlobalOptions
        @Argument(help: "The directory to create.") var directory: String

        func run() throws {
            let settings = try options.loadConfiguration().receipts
            let summary: LogExport.Summary
            do {
                summary = try LogExport.copy(from: settings.directory, to: directory)
            } catch {
                throw PopctlError("cannot export the receipt log: \(error)")
            }
            print("exported \(summary.files) files to \(directory): checkpoint of \(summary.checkpoint.size) receipts")
            print("verify with: popaudit verify \(directory) --key \"$(popctl receipts key)\"")
        }
    }
}
