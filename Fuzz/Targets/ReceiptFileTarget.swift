import Foundation
import Receipts

/// The JSON files a client keeps from the receipt API, as popaudit checks them offline
/// (``ClientProofs``): a receipt with its inclusion proof and checkpoint, and a consistency answer.
enum ReceiptFileTarget {
    static let target = FuzzTarget(
        name: "receipt-file", summary: "client receipt and consistency files: JSON, entry, proof, signature", run: run
    )

    static func run(_ data: UnsafeRawBufferPointer) {
        let bytes = Data(data)
        if let (receipt, checkpoint) = try? ClientProofs.checkReceipt(bytes, verifier: FuzzKeys.verifier) {
            FuzzCheck.require(checkpoint.size > 0, "a receipt was proven in an empty tree")
            FuzzCheck.require(ReceiptEncoding.encode(receipt).count > 0, "a proven receipt has no encoding")
        }
        if let file = try? ClientProofs.consistencyProof(in: bytes) {
            // The file's own sizes with two roots it cannot know: a proof that verifies them would be a forgery.
            let old = Checkpoint(origin: FuzzKeys.origin, size: file.from, root: .leaf([1]))
            let new = Checkpoint(origin: FuzzKeys.origin, size: file.to, root: .leaf([2]))
            FuzzCheck.require(
                (try? ClientProofs.checkConsistency(old: old, new: new, proof: file.proof)) == nil || file.from == 0,
                "a consistency proof verified between two unrelated roots"
            )
        }
    }
}
