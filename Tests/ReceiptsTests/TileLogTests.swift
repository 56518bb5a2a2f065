import Foundation
import Sodium
import Testing

@testable import Receipts

@Suite struct TileLogTests {
    static func temporaryDirectory() -> String {
        // On tmpfs where there is one: the log syncs its file system (syncfs) at each checkpoint,
        // and on the disk that would also flush whatever the build just wrote, for seconds, while
        // other suites' timers wait for the threads it blocks.
        let base = FileManager.default.fileExists(atPath: "/dev/shm") ? "/dev/shm/" : NSTemporaryDirectory()
        let path = base + "receipts-test-\(UUID().uuidString)"
        try! FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
        return path
    }

    static let signer = try! NoteSigner(name: "test.example/log", key: Ed25519PrivateKey())

    static func entry(_ index: Int) -> [UInt8] { Array("receipt \(index)".utf8) }

    /// A log of `count` entries under a checkpoint, closed again; the caller removes the directory.
    static func signedLog(count: Int) throws -> String {
        let directory = temporaryDirectory()
        let log = try TileLogWriter(directory: directory, signer: signer)
        try fill(log, from: 0, count: count)
        try log.signCheckpoint()
        log.close()
        return directory
    }

    /// Appends `count` entries in batches of varying sizes, as the gateway's writer takes them.
    static func fill(_ log: TileLogWriter, from start: Int, count: Int) throws {
        var next = start
        var batch = 1
        while next < start + count {
            let size = min(batch, start + count - next)
            try log.append((next..<(next + size)).map(entry))
            next += size
            batch = batch % 37 + 3
        }
    }

    @Test func tilesGiveTheSameTreeAsMemoryAndServeProofs() throws {
        let directory = Self.temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let log = try TileLogWriter(directory: directory, signer: Self.signer)
        try Self.fill(log, from: 0, count: 700)
        try log.signCheckpoint()
        let memory = MemoryTree(entries: (0..<700).map(Self.entry))
        let reader = TileLogReader(directory: directory)
        #expect(log.checkpoint.checkpoint.size == 700)
        #expect(log.checkpoint.checkpoint.root == (try memory.root(size: 700)))
        #expect(try reader.root(size: 700) == memory.root(size: 700))
        for index in stride(from: UInt64(0), to: 700, by: 13) {
            #expect(try InclusionProof.make(index: index, size: 700, from: reader) == InclusionProof.make(index: index, size: 700, from: memory))
        }
        #expect(try ConsistencyProof.make(oldSize: 300, newSize: 700, from: reader) == ConsistencyProof.make(oldSize: 300, newSize: 700, from: memory))
        #expect(try reader.entry(699) == Self.entry(699))
        // The layout of c2sp.org/tlog-tiles: full bundles and tiles, one partial of each.
        let files = Set(FileManager.default.subpaths(atPath: directory)!)
        #expect(files.isSuperset(of: [
            "tile/entries/000", "tile/entries/001", "tile/entries/002.p/188", "tile/0/000", "tile/0/001",
            "tile/0/002.p/188", "tile/1/000.p/2", "checkpoint", "checkpoints.log",
        ]))
        #expect(!files.contains { $0.hasSuffix(".tmp") })
        #expect(files.filter { $0.hasPrefix("tile/0/002.p/") }.count == 1)
    }

    @Test func reopeningContinuesTheLogAndKeepsUncheckpointedEntries() throws {
        let directory = Self.temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        do {
            let log = try TileLogWriter(directory: directory, signer: Self.signer)
            try Self.fill(log, from: 0, count: 300)
            try log.signCheckpoint()
            // Written but not yet checkpointed when the process "dies".
            try Self.fill(log, from: 300, count: 20)
            #expect(throws: ReceiptLogError.self) { try TileLogWriter(directory: directory, signer: Self.signer) }
        }
        var seen: [UInt64] = []
        let log = try TileLogWriter(directory: directory, signer: Self.signer) { index, entry in
            #expect(entry == Self.entry(Int(index)))
            seen.append(index)
        }
        #expect(seen == Array(0..<320))
        #expect(log.checkpoint.checkpoint.size == 320)
        try Self.fill(log, from: 320, count: 100)
        try log.signCheckpoint()
        #expect(log.checkpoint.checkpoint.root == (try MemoryTree(entries: (0..<420).map(Self.entry)).root(size: 420)))
        let notes = CheckpointLog.split(try LogFiles.read("\(directory)/checkpoints.log")!).notes
        #expect(notes.map { try! SignedCheckpoint(note: $0, verifier: Self.signer.verifier).checkpoint.size } == [0, 300, 320, 420])
    }

    @Test func aTornCheckpointTailIsCut() throws {
        let directory = try Self.signedLog(count: 10)
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let logPath = "\(directory)/checkpoints.log"
        let whole = try LogFiles.read(logPath)!
        try LogFiles.append(logPath, Array("test.example/log\n11\n".utf8))
        let reopened = try TileLogWriter(directory: directory, signer: Self.signer)
        #expect(reopened.repairs.contains { $0.contains("torn checkpoint") })
        #expect(try LogFiles.read(logPath) == whole)
        try Self.fill(reopened, from: 10, count: 1)
        try reopened.signCheckpoint()
        withExtendedLifetime(reopened) {}
    }

    @Test func anAlteredEntryStopsTheStart() throws {
        let directory = try Self.signedLog(count: 300)
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let bundle = "\(directory)/tile/entries/000"
        var bytes = try LogFiles.read(bundle)!
        bytes[5] ^= 1
        try LogFiles.replace(bundle, with: bytes, sync: false)
        #expect(throws: ReceiptLogError.self) { try TileLogWriter(directory: directory, signer: Self.signer) }
    }

    @Test func aMissingOrWrongTileIsRewrittenFromTheEntries() throws {
        let directory = try Self.signedLog(count: 600)
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let tile = "\(directory)/tile/0/001"
        let original = try LogFiles.read(tile)!
        try FileManager.default.removeItem(atPath: tile)
        let log = try TileLogWriter(directory: directory, signer: Self.signer)
        #expect(log.repairs.contains("rewrote tile 0/1 from the entries"))
        #expect(try LogFiles.read(tile) == original)
    }

    @Test func aTornJournalTailIsCutAndAJournalOverlappingTheBundlesIsRead() throws {
        let directory = Self.temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        func journals() -> [String] {
            (try? FileManager.default.contentsOfDirectory(atPath: directory))?.filter { $0.hasPrefix("journal.") }.sorted() ?? []
        }
        var firstJournal: [UInt8] = []
        do {
            let log = try TileLogWriter(directory: directory, signer: Self.signer)
            try Self.fill(log, from: 0, count: 10)
            firstJournal = try LogFiles.read("\(directory)/journal.0")!
            try log.signCheckpoint()
            // Signed: the journal of entries 0-9 is gone, and appends go to the one from 10.
            #expect(journals() == ["journal.10"])
            try Self.fill(log, from: 10, count: 5)
        }
        // A crash mid-write: half a record at the end.
        try LogFiles.append("\(directory)/journal.10", [0, 40, 1, 2, 3])
        var log = try TileLogWriter(directory: directory, signer: Self.signer)
        #expect(log.repairs.contains { $0.contains("torn entry of 5 bytes") })
        #expect(log.size == 15 && log.checkpoint.checkpoint.size == 15)
        #expect(journals() == ["journal.15"])
        log.close()
        // A crash after a checkpoint but before the old journal was removed: it holds entries the
        // bundles hold too, and is read past them.
        try LogFiles.replace("\(directory)/journal.0", with: firstJournal, sync: false)
        log = try TileLogWriter(directory: directory, signer: Self.signer)
        #expect(log.size == 15)
        try Self.fill(log, from: 15, count: 300)
        try log.signCheckpoint()
        #expect(log.checkpoint.checkpoint.root == (try MemoryTree(entries: (0..<315).map(Self.entry)).root(size: 315)))
        #expect(journals() == ["journal.315"])
        #expect(LogAudit.verify(directory: directory, verifier: Self.signer.verifier).problem?.contains("is not a receipt") == true)
    }
}
