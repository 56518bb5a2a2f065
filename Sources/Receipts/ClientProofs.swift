import Foundation

/// The files a client keeps, as the receipt API gives them, and their offline checks.
public enum ClientProofs {
    /// `GET /v1/receipts/{id}`'s answer: the signed entry, its readable form, and its proof.
    public struct ReceiptFile: Codable, Sendable {
        public let id: String
        public let receipt: ReceiptJSON
        public let entry: String
        public let leafIndex: UInt64
        public let treeSize: UInt64
        public let inclusionProof: [String]
        public let checkpoint: String
    }

    /// `GET /v1/receipts/consistency`'s answer.
    public struct ConsistencyFile: Codable, Sendable {
        public let from: UInt64
        public let to: UInt64
        public let proof: [String]
        public let checkpoint: String?
    }

    static func decoder() -> JSONDecoder {
        let decoder = JSONDecoder()
        decoder.keyDecodingStrategy = .convertFromSnakeCase
        return decoder
    }

    /// Checks a receipt file: the checkpoint is signed by `verifier`, the entry is a receipt
    /// whose readable form and id are those shown, and the proof leads from the entry to the
    /// checkpoint's root. Returns the receipt and the checkpoint.
    public static func checkReceipt(_ data: Data, verifier: NoteVerifier) throws -> (Receipt, Checkpoint) {
        let file: ReceiptFile
        do {
            file = try decoder().decode(ReceiptFile.self, from: data)
        } catch {
            throw ProofError("the file is not a receipt from GET /v1/receipts/{id}: \(error)")
        }
        let checkpoint: Checkpoint
        do {
            checkpoint = try SignedCheckpoint(note: file.checkpoint, verifier: verifier).checkpoint
        } catch {
            throw ProofError("the receipt's checkpoint is invalid: \(error)")
        }
        guard let entry = Data(base64Encoded: file.entry) else { throw ProofError("the entry is not base64") }
        let receipt: Receipt
        do {
            receipt = try ReceiptEncoding.decode(Array(entry))
        } catch {
            throw ProofError("the entry is not a receipt: \(error)")
        }
        guard ReceiptJSON(receipt) == file.receipt else {
            throw ProofError("the readable receipt differs from the signed entry; trust only the entry")
        }
        guard receipt.id.description == file.id else {
            throw ProofError("the file is for \(file.id), but its entry is receipt \(receipt.id)")
        }
        guard file.treeSize == checkpoint.size else {
            throw ProofError("the proof is for a tree of \(file.treeSize) entries, the checkpoint for \(checkpoint.size)")
        }
        let path = try file.inclusionProof.map { text in
            guard let hash = TreeHash(base64: text) else { throw ProofError("the proof hash \"\(text)\" is not base64 of 32 bytes") }
            return hash
        }
        try InclusionProof.verify(
            leafHash: .leaf(Array(entry)), index: file.leafIndex, size: checkpoint.size, path: path, root: checkpoint.root
        )
        return (receipt, checkpoint)
    }

    /// The signed checkpoint in a file: a bare note, or the `checkpoint` of a receipt, checkpoint
    /// or consistency answer.
    public static func checkpoint(in data: Data, verifier: NoteVerifier) throws -> Checkpoint {
        struct HasCheckpoint: Decodable { let checkpoint: String? }
        let note: String
        if let object = try? JSONDecoder().decode(HasCheckpoint.self, from: data) {
            guard let text = object.checkpoint else { throw ProofError("the file holds no checkpoint") }
            note = text
        } else {
            note = String(decoding: data, as: UTF8.self)
        }
        do {
            return try SignedCheckpoint(note: note, verifier: verifier).checkpoint
        } catch {
            throw ProofError("the checkpoint is invalid: \(error)")
        }
    }

    /// The consistency proof in a `GET /v1/receipts/consistency` answer.
    public static func consistencyProof(in data: Data) throws -> ConsistencyFile {
        do {
            return try decoder().decode(ConsistencyFile.self, from: data)
        } catch {
            throw ProofError("the file is not an answer of GET /v1/receipts/consistency: \(error)")
        }
    }

    /// Throws unless `proof` shows `new` extends `old`.
    public static func checkConsistency(old: Checkpoint, new: Checkpoint, proof: [String]) throws {
        let hashes = try proof.map { text in
            guard let hash = TreeHash(base64: text) else { throw ProofError("the proof hash \"\(text)\" is not base64 of 32 bytes") }
            return hash
        }
        try ConsistencyProof.verify(oldSize: old.size, newSize: new.size, oldRoot: old.root, newRoot: new.root, proof: hashes)
    }
}
