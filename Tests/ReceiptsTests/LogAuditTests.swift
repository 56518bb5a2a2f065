import Foundation
import Sodium
import Testing

@testable import Receipts

@Suite struct LogAuditTests {
    static let signer = TileLogTests.signer

    static func receipt(_ index: Int, time: UInt64? = nil, id: UInt64? = nil) -> [UInt8] {
        ReceiptEncoding.encode(Receipt(
            id: ReceiptID(high: 1, low: id ?? UInt64(index)), session: ReceiptID(high: 2, low: 3),
            timeMicroseconds: time ?? 1_000_000 + UInt64(index), tenant: "acme", peer: [UInt8](repeating: 7, count: 32),
            model: "m", modelVersion: "", tier: "fast", backend: "b", status: 200, usage: nil
        ))
    }

    /// A log of `entries`, with a checkpoint signed after each size in `checkpointsAt`.
    static func log(_ entries: [[UInt8]], checkpointsAt sizes: [Int]) throws -> String {
        let directory = TileLogTests.temporaryDirectory()
        let log = try TileLogWriter(directory: directory, signer: signer)
        var written = 0
        for size in sizes + [entries.count] where size > written {
            while written < size {
                let count = min(100, size - written)
                try log.append(Array(entries[written..<(written + count)]))
                written += count
            }
            try log.signCheckpoint()
        }
        return directory
    }

    @Test func aWholeLogVerifies() throws {
        let directory = try Self.log((0..<600).map { Self.receipt($0) }, checkpointsAt: [1, 256, 300])
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let report = LogAudit.verify(directory: directory, verifier: Self.signer.verifier)
        #expect(report.problem == nil)
        #expect(report.entries == 600 && report.treeSize == 600 && report.checkpoints == 5)
        // Full tiles 0/000 and 0/001, the partial 0/002 and the partial level-1 tile.
        #expect(report.tiles == 4)
        // Another key's verifier refuses it.
        let other = try NoteSigner(name: Self.signer.name, key: Ed25519PrivateKey()).verifier
        #expect(LogAudit.verify(directory: directory, verifier: other).problem?.contains("checkpoint 1") == true)
    }

    @Test func aRewrittenHistoryIsFound() throws {
        var entries = (0..<400).map { Self.receipt($0) }
        let honest = try Self.log(entries, checkpointsAt: [100, 300])
        defer { try? FileManager.default.removeItem(atPath: honest) }
        // The operator replaces receipt 150 and signs the whole log anew.
        entries[150] = Self.receipt(150, id: 9999)
        let rewritten = try Self.log(entries, checkpointsAt: [100, 300])
        defer { try? FileManager.default.removeItem(atPath: rewritten) }
        // Self-consistent, it verifies alone...
        #expect(LogAudit.verify(directory: rewritten, verifier: Self.signer.verifier).problem == nil)
        // ...but a client holding the honest checkpoint of size 300 finds it does not extend that one.
        let notes = CheckpointLog.split(try LogFiles.read("\(honest)/checkpoints.log")!).notes
        let kept = try SignedCheckpoint(note: notes[2], verifier: Self.signer.verifier).checkpoint
        #expect(kept.size == 300)
        let newest = try SignedCheckpoint(
            note: String(decoding: try LogFiles.read("\(rewritten)/checkpoint")!, as: UTF8.self), verifier: Self.signer.verifier
        ).checkpoint
        let proof = try ConsistencyProof.make(oldSize: 300, newSize: newest.size, from: TileLogReader(directory: rewritten))
        #expect(throws: ProofError.self) {
            try ClientProofs.checkConsistency(old: kept, new: newest, proof: proof.map(\.base64))
        }
        // And where the honest checkpoints stay in checkpoints.log, verify names the first it breaks.
        try LogFiles.replace(
            "\(rewritten)/checkpoints.log", with: try LogFiles.read("\(honest)/checkpoints.log")!, sync: false
        )
        try LogFiles.replace("\(rewritten)/checkpoint", with: try LogFiles.read("\(honest)/checkpoint")!, sync: false)
        let problem = LogAudit.verify(directory: rewritten, verifier: Self.signer.verifier).problem
        #expect(problem?.hasPrefix("checkpoint 3 (size 300) signs root") == true, "\(problem ?? "")")
    }

    @Test func receiptsAreCheckedOneByOne() throws {
        let cases: [(entries: [[UInt8]], problem: String)] = [
            ((0..<5).map { Self.receipt($0) } + [Self.receipt(5, id: 2)], "entry 5 (tile/entries/000.p/6) repeats receipt id"),
            ((0..<5).map { Self.receipt($0) } + [Self.receipt(5, time: 10)], "entry 5 (tile/entries/000.p/6) is dated"),
            ((0..<5).map { Self.receipt($0) } + [[1, 2, 3]], "entry 5 (tile/entries/000.p/6, entry 5) is not a receipt"),
        ]
        for (entries, expected) in cases {
            let directory = try Self.log(entries, checkpointsAt: [])
            defer { try? FileManager.default.removeItem(atPath: directory) }
            let problem = LogAudit.verify(directory: directory, verifier: Self.signer.verifier).problem ?? ""
            #expect(problem.hasPrefix(expected), "\(problem)")
        }
    }

    @Test func aShrinkingOrTornCheckpointLogIsFound() throws {
        let directory = try Self.log((0..<10).map { Self.receipt($0) }, checkpointsAt: [5])
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let path = "\(directory)/checkpoints.log"
        let notes = CheckpointLog.split(try LogFiles.read(path)!).notes  // sizes 0, 5, 10
        try LogFiles.replace(path, with: Array((notes[0] + notes[2] + notes[1]).utf8), sync: false)
        #expect(
            LogAudit.verify(directory: directory, verifier: Self.signer.verifier).problem?
                .hasPrefix("checkpoint 3 in checkpoints.log has size 5, smaller than the 10 before it") == true
        )
        try LogFiles.replace(path, with: Array((notes.joined() + "origin\n11\n").utf8), sync: false)
        #expect(
            LogAudit.verify(directory: directory, verifier: Self.signer.verifier).problem?
                .hasPrefix("checkpoints.log ends in an incomplete checkpoint") == true
        )
    }
}
