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
                let usage = receipt.usage.map { "\($0.promptTokens) prompt + \($0.completionTokens) completion tokens" } ?? "no usage"
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
    }
}
