import Foundation
import FuzzTargets
import Receipts
import Sodium
import Testing

/// Seeds that must be made with the project's own encoders and the fixed fuzz key (receipts,
/// bundles, signed checkpoints, receipt files, Merkle proofs). They are committed under
/// Fuzz/corpus like the rest; this test fails when they no longer match what the code makes
/// (an encoding or key changed), and writes them afresh with POPGATE_FUZZ_WRITE_SEEDS=1
/// (`Fuzz/fuzz.sh seeds`).
@Suite struct GeneratedSeeds {
    struct Seed {
        let target: String
        let name: String
        let bytes: [UInt8]
    }

    /// Three version-1 receipts, as logs written before version 2 hold them, then a version-2 one
    /// whose usage the gateway counted: a log that lived through the upgrade.
    static let receipts: [Receipt] = [
        Receipt(
            id: ReceiptID(high: 0x0123_4567_89ab_cdef, low: 0x0123_4567_89ab_cdef), session: ReceiptID(high: 1, low: 2),
            timeMicroseconds: 1_764_500_000_123_456, tenant: "acme", peer: [UInt8](repeating: 9, count: 32), model: "m",
            modelVersion: "2509-fp8", tier: "fast", backend: "gpu-1", status: 200,
            usage: .init(promptTokens: 12, completionTokens: 3), version: 1
        ),
        Receipt(
            id: ReceiptID(high: 7, low: 8), session: ReceiptID(high: 1, low: 2), timeMicroseconds: 0, tenant: "globex",
            peer: [UInt8](repeating: 0xfe, count: 32), model: "", modelVersion: "", tier: "unknown", backend: "",
            status: 401, usage: nil, version: 1
        ),
        Receipt(
            id: ReceiptID(high: .max, low: .max), session: ReceiptID(high: 0, low: 0), timeMicroseconds: .max,
            tenant: "t\u{e9}nant-\u{1F600}", peer: [UInt8](repeating: 0, count: 32), model: String(repeating: "x", count: 1024),
            modelVersion: "", tier: "ludicrous", backend: "mini", status: 499, usage: .init(promptTokens: .max, completionTokens: 0),
            version: 1
        ),
        Receipt(
            id: ReceiptID(high: 0x0f0e_0d0c_0b0a_0908, low: 0x0706_0504_0302_0100), session: ReceiptID(high: 3, low: 4),
            timeMicroseconds: 1_764_500_001_000_000, tenant: "acme", peer: [UInt8](repeating: 9, count: 32), model: "m",
            modelVersion: "2509-fp8", tier: "fast", backend: "gpu-2", status: 499,
            usage: .init(promptTokens: 12, completionTokens: 40, source: .counted)
        ),
    ]

    static func all() throws -> [Seed] {
        var seeds: [Seed] = []
        let entries = receipts.map(ReceiptEncoding.encode)
        for (index, entry) in entries.enumerated() {
            seeds.append(Seed(target: "receipt-entry", name: "receipt-\(index)", bytes: entry))
        }
        seeds.append(Seed(target: "entry-bundle", name: "receipts", bytes: EntryBundle.encode(entries)))
        seeds.append(Seed(target: "entry-bundle", name: "empty-entries", bytes: EntryBundle.encode([[], [], [0]])))

        // A log of those receipts, signed with the fuzz key.
        let tree = MemoryTree(entries: entries)
        let size = tree.size
        let signed = try SignedCheckpoint(
            signing: Checkpoint(origin: FuzzKeys.origin, size: size, root: try tree.root(size: size)), with: FuzzKeys.signer
        )
        let empty = try SignedCheckpoint(
            signing: Checkpoint(origin: FuzzKeys.origin, size: 0, root: .empty), with: FuzzKeys.signer
        )
        let other = try NoteSigner(name: "witness.example", key: Ed25519PrivateKey(seed: SecretBytes(copying: [UInt8](repeating: 1, count: 32))))
        let cosigned = signed.note + String(try other.sign(signed.checkpoint.text).split(separator: "\n").last!) + "\n"
        seeds.append(Seed(target: "signed-checkpoint", name: "checkpoint", bytes: Array(signed.note.utf8)))
        seeds.append(Seed(target: "signed-checkpoint", name: "empty-log", bytes: Array(empty.note.utf8)))
        seeds.append(Seed(target: "signed-checkpoint", name: "cosigned", bytes: Array(cosigned.utf8)))
        seeds.append(Seed(target: "signed-checkpoint", name: "extension-line", bytes: Array(
            try FuzzKeys.signer.sign(signed.checkpoint.text + "extension line\n").utf8
        )))
        seeds.append(Seed(target: "signed-checkpoint", name: "verifier-key", bytes: Array(FuzzKeys.verifier.description.utf8)))
        seeds.append(Seed(target: "signed-checkpoint", name: "checkpoint-json", bytes: try json(["checkpoint": signed.note])))

        for index in 0..<entries.count {
            let proof = try InclusionProof.make(index: UInt64(index), size: size, from: tree)
            seeds.append(Seed(target: "receipt-file", name: "receipt-\(index)", bytes: try json(ReceiptFile(
                id: receipts[index].id.description, receipt: ReceiptJSON(receipts[index]),
                entry: Data(entries[index]).base64EncodedString(), leafIndex: UInt64(index), treeSize: size,
                inclusionProof: proof.map(\.base64), checkpoint: signed.note
            ))))
        }
        let consistency = try ConsistencyProof.make(oldSize: 1, newSize: size, from: tree)
        seeds.append(Seed(target: "receipt-file", name: "consistency", bytes: try json(ConsistencyFile(
            from: 1, to: size, proof: consistency.map(\.base64), checkpoint: signed.note
        ))))

        seeds += merkleProofSeeds()
        return seeds
    }

    /// Honest proofs in the target's input format: hashes of the real tree by their place in its
    /// pool, others (the right edge's partial subtrees) as raw bytes.
    static func merkleProofSeeds() -> [Seed] {
        let tree = MerkleProofTarget.tree
        let pool = MerkleProofTarget.pool
        func encode(_ proof: [TreeHash]) -> [UInt8] {
            proof.flatMap { hash in
                if let place = pool.firstIndex(of: hash), place < 0xf0 { return [UInt8(place)] }
                return [0xf0] + hash.bytes
            }
        }
        var seeds: [Seed] = []
        for (index, size) in [(0, 1), (5, 8), (37, 70), (69, 70)] as [(UInt64, UInt64)] {
            let proof = (try? InclusionProof.make(index: index, size: size, from: tree)) ?? []
            seeds.append(Seed(
                target: "merkle-proof", name: "inclusion-\(index)-of-\(size)", bytes: [0, UInt8(index), UInt8(size)] + encode(proof)
            ))
        }
        for (old, new) in [(1, 2), (3, 70), (32, 64), (64, 70)] as [(UInt64, UInt64)] {
            let proof = (try? ConsistencyProof.make(oldSize: old, newSize: new, from: tree)) ?? []
            seeds.append(Seed(
                target: "merkle-proof", name: "consistency-\(old)-to-\(new)", bytes: [1, UInt8(old), UInt8(new)] + encode(proof)
            ))
        }
        let wide = [UInt8](repeating: 0xff, count: 8) + [0x80] + [UInt8](repeating: 0, count: 7)
        seeds.append(Seed(target: "merkle-proof", name: "inclusion-wide", bytes: [2] + wide + [1, 2, 3]))
        seeds.append(Seed(target: "merkle-proof", name: "consistency-wide", bytes: [3] + wide + [4, 5]))
        return seeds
    }

    /// The receipt API's answers, as a client stores them (snake_case, like ReceiptAPI writes them).
    struct ReceiptFile: Encodable {
        var object = "receipt"
        let id: String
        let receipt: ReceiptJSON
        let entry: String
        let leafIndex: UInt64
        let treeSize: UInt64
        let inclusionProof: [String]
        let checkpoint: String
    }

    struct ConsistencyFile: Encodable {
        let from: UInt64
        let to: UInt64
        let proof: [String]
        let checkpoint: String?
    }

    static func json(_ value: some Encodable) throws -> [UInt8] {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        encoder.keyEncodingStrategy = .convertToSnakeCase
        return Array(try encoder.encode(value))
    }

    @Test func generatedSeedsAreCommittedAndCurrent() throws {
        let write = ProcessInfo.processInfo.environment["POPGATE_FUZZ_WRITE_SEEDS"] == "1"
        for seed in try Self.all() {
            let url = CorpusReplayTests.corpus.appendingPathComponent(seed.target).appendingPathComponent(seed.name)
            if write {
                try FileManager.default.createDirectory(at: url.deletingLastPathComponent(), withIntermediateDirectories: true)
                try Data(seed.bytes).write(to: url)
            }
            let committed = try? Data(contentsOf: url)
            #expect(
                committed.map(Array.init) == seed.bytes,
                "Fuzz/corpus/\(seed.target)/\(seed.name) is missing or stale; regenerate it with Fuzz/fuzz.sh seeds"
            )
        }
    }

    @Test func receiptFileSeedsVerify() throws {
        for seed in try Self.all() where seed.target == "receipt-file" && seed.name.hasPrefix("receipt-") {
            _ = try ClientProofs.checkReceipt(Data(seed.bytes), verifier: FuzzKeys.verifier)
        }
        let note = try #require(try Self.all().first { $0.name == "checkpoint" })
        _ = try SignedCheckpoint(note: String(decoding: note.bytes, as: UTF8.self), verifier: FuzzKeys.verifier)
    }
}
