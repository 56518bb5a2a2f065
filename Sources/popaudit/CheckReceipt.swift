import ArgumentParser
import Foundation
import Receipts

extension Popaudit {
    struct CheckReceipt: ParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "check-receipt",
            abstract: "Verify a receipt a client holds (the answer of GET /v1/receipts/{id}) and its inclusion proof."
        )

        @Argument(help: "The receipt file.")
        var file: String

        @OptionGroup var options: AuditOptions

        func run() throws {
            let verifier = try options.verifier()
            let data = try readFile(file)
            do {
                let (receipt, checkpoint) = try ClientProofs.checkReceipt(data, verifier: verifier)
                let usage = receipt.usage.map(describe) ?? "no usage"
                options.finish(
                    valid: true,
                    text: "\(receipt.id) (\(receipt.timeText), tenant \(receipt.tenant), \(receipt.model), status \(receipt.status), \(usage)) "
                        + "is in the log at size \(checkpoint.size)",
                    fields: ["problem": NSNull(), "id": receipt.id.description, "tree_size": checkpoint.size]
                )
            } catch {
                options.finish(valid: false, text: "\(error)", fields: ["problem": "\(error)"])
            }
        }

        /// "12 prompt + 40 completion tokens", saying so when the gateway counted them: then they are its
        /// count of what it relayed, not the worker's report.
        private func describe(_ usage: Receipt.Usage) -> String {
            let tokens = "\(usage.promptTokens) prompt + \(usage.completionTokens) completion tokens"
            switch usage.source {
            case .reported: return tokens
            case .counted: return tokens + " (counted by the gateway)"
            }
        }
    }
}
