import Foundation

#if canImport(Glibc)
import Glibc
#endif

/// Appends entries to a c2sp.org/tlog-tiles log in a directory and signs its checkpoints.
///
/// Layout: `tile/entries/…` (entry bundles), `tile/<level>/…` (hash tiles), `checkpoint` (the
/// latest signed checkpoint) and `checkpoints.log` (every checkpoint signed, appended in order).
///
/// Durability, in two steps:
/// 1. ``append(_:)`` writes the new entries' bundle and the hash tiles they change (each to a
///    temporary name, then renamed). When it returns, the entries survive the process being
///    killed: they are in the kernel's page cache.
/// 2. ``signCheckpoint()`` first fsyncs every file written since the last one, then signs the new size and
///    appends the note to `checkpoints.log` (fsynced) before replacing `checkpoint`. A signed
///    checkpoint therefore never covers an entry that a power loss could take.
///
/// On open, the log is replayed from its entries: every full tile is checked against the
/// entries (and rewritten when missing or wrong), the tree is checked against the latest
/// checkpoint, a torn `checkpoints.log` tail is cut off, and entries written after the last
/// checkpoint are kept and signed. Not thread-safe: one writer thread owns it, and an exclusive
/// lock on `DIR/.lock` keeps a second process out.
public final class TileLogWriter {
    public let directory: String
    private let signer: NoteSigner
    private let reader: TileLogReader
    private var state = TileState()
    /// The entries of the bundle being filled.
    private var bundle: [[UInt8]] = []
    /// The partial files last written, removed when a wider one replaces them.
    private var partialPaths: [String: String] = [:]
    private var madeDirectories: Set<String> = []
    /// Files written since the last checkpoint, fsynced before the next is signed.
    private var unsynced: Set<String> = []
    /// Full files written by the append under way.
    private var writtenFull: [String] = []
    private var lockDescriptor: Int32
    /// The latest signed checkpoint.
    public private(set) var checkpoint: SignedCheckpoint
    /// Repairs made on open (tiles rewritten, a torn tail cut), for the daemon's log.
    public private(set) var repairs: [String] = []

    /// The number of entries.
    public var size: UInt64 { state.size }

    /// The verifier key of the log.
    public var verifier: NoteVerifier { signer.verifier }

    /// Opens (or makes) the log in `directory`; `onEntry` sees each existing entry with its index.
    public init(
        directory: String, signer: NoteSigner, onEntry: (UInt64, [UInt8]) throws -> Void = { _, _ in }
    ) throws {
        self.directory = directory
        self.signer = signer
        reader = TileLogReader(directory: directory)
        try LogFiles.makeDirectory(directory)
        lockDescriptor = try LogFiles.open("\(directory)/.lock", O_RDWR | O_CREAT | O_CLOEXEC, mode: 0o640)
        guard flock(lockDescriptor, LOCK_EX | LOCK_NB) == 0 else {
            Glibc.close(lockDescriptor)
            throw ReceiptLogError(
                "the receipt log \(directory) is held by another process (a second popgated?); give each gateway its own receipts.directory"
            )
        }
        checkpoint = try SignedCheckpoint(signing: Checkpoint(origin: signer.name, size: 0, root: .empty), with: signer)
        do {
            try recover(onEntry)
        } catch {
            Glibc.close(lockDescriptor)
            throw error
        }
    }

    deinit {
        close()
    }

    /// Releases the directory's lock: another writer may open the log. Nothing may be appended after.
    public func close() {
        guard lockDescriptor >= 0 else { return }
        Glibc.close(lockDescriptor)
        lockDescriptor = -1
    }

    // MARK: Appending

    /// How many entries fit before the bundle being filled is full: a batch never spans two
    /// bundles, so each append writes one bundle file.
    public var roomInBundle: Int { TilePath.width - bundle.count }

    /// Appends `entries` (at most ``roomInBundle``); returns the index of the first. On a throw
    /// nothing changed in memory, and the next append writes the same files again.
    @discardableResult
    public func append(_ entries: [[UInt8]]) throws -> UInt64 {
        precondition(!entries.isEmpty && entries.count <= roomInBundle, "a batch fills at most the rest of one bundle")
        precondition(lockDescriptor >= 0, "the log is closed")
        let first = state.size
        let bundleIndex = first / UInt64(TilePath.width)
        let newBundle = bundle + entries
        writtenFull = []
        do {
            try writeVersioned(
                full: TilePath.entryBundle(index: bundleIndex), key: "entries", width: newBundle.count,
                bytes: EntryBundle.encode(newBundle)
            )
            var next = state
            var fullTiles: [TileState.FullTile] = []
            for entry in entries { fullTiles += next.append(leafHash: .leaf(entry)) }
            try writeTiles(of: next, completed: fullTiles)
            state = next
        } catch {
            // A full bundle or tile of entries not taken would be read in place of the partial
            // ones the next append writes.
            for path in writtenFull { LogFiles.remove(path) }
            throw error
        }
        bundle = newBundle.count == TilePath.width ? [] : newBundle
        return first
    }

    /// Signs a checkpoint of the current size once everything written is on disk; a no-op when
    /// the latest checkpoint already has this size.
    @discardableResult
    public func signCheckpoint() throws -> Bool {
        guard checkpoint.checkpoint.size != state.size else { return false }
        try LogFiles.sync(files: unsynced)
        unsynced.removeAll(keepingCapacity: true)
        let signed = try SignedCheckpoint(
            signing: Checkpoint(origin: signer.name, size: state.size, root: state.root), with: signer
        )
        try publish(signed)
        return true
    }

    private func publish(_ signed: SignedCheckpoint) throws {
        // checkpoints.log first: a crash between the two leaves the log one ahead, and recovery
        // copies its last note into `checkpoint`, never the other way round.
        try LogFiles.append("\(directory)/\(CheckpointLog.fileName)", Array(signed.note.utf8))
        try LogFiles.replace("\(directory)/checkpoint", with: Array(signed.note.utf8), sync: true)
        checkpoint = signed
    }

    private func writeTiles(of next: TileState, completed: [TileState.FullTile]) throws {
        for tile in completed {
            try writeVersioned(
                full: TilePath.hashTile(level: tile.level, index: tile.index), key: "tile/\(tile.level)",
                width: TilePath.width, bytes: HashTile.encode(tile.hashes)
            )
        }
        for level in next.partial.indices where !next.partial[level].isEmpty {
            let index = next.counts[level] / UInt64(TilePath.width)
            let width = next.partial[level].count
            guard level >= state.partial.count || state.partial[level] != next.partial[level] else { continue }
            try writeVersioned(
                full: TilePath.hashTile(level: level, index: index), key: "tile/\(level)", width: width,
                bytes: HashTile.encode(next.partial[level])
            )
        }
    }

    /// Writes a tile or bundle (full when `width` is 256), then removes the partial one it replaces.
    private func writeVersioned(full: String, key: String, width: Int, bytes: [UInt8]) throws {
        let relative = width == TilePath.width ? full : "\(TilePath.partialDirectory(of: full))/\(width)"
        let path = "\(directory)/\(relative)"
        let parent = (path as NSString).deletingLastPathComponent
        if !madeDirectories.contains(parent) {
            try LogFiles.makeDirectory(parent)
            madeDirectories.insert(parent)
        }
        try LogFiles.replace(path, with: bytes, sync: false)
        unsynced.insert(path)
        if width == TilePath.width { writtenFull.append(path) }
        if let previous = partialPaths[key], previous != path {
            LogFiles.remove(previous)
            if width == TilePath.width || !previous.hasPrefix(parent + "/") {
                let previousParent = (previous as NSString).deletingLastPathComponent
                LogFiles.remove(previousParent)
                madeDirectories.remove(previousParent)
            }
        }
        partialPaths[key] = width == TilePath.width ? nil : path
    }

    // MARK: Recovery

    private func recover(_ onEntry: (UInt64, [UInt8]) throws -> Void) throws {
        let logPath = "\(directory)/\(CheckpointLog.fileName)"
        var latest: SignedCheckpoint?
        if let bytes = try LogFiles.read(logPath) {
            let (notes, wholeLength) = CheckpointLog.split(bytes)
            if wholeLength < bytes.count {
                try LogFiles.truncate(logPath, to: wholeLength)
                repairs.append("cut a torn checkpoint of \(bytes.count - wholeLength) bytes from the end of \(logPath)")
            }
            for (number, note) in notes.enumerated() {
                do {
                    latest = try SignedCheckpoint(note: note, verifier: signer.verifier)
                } catch {
                    throw ReceiptLogError(
                        "checkpoint \(number + 1) in \(logPath) does not verify with the log's key (\(error)); run popaudit verify on \(directory)"
                    )
                }
            }
        }
        // Replay every entry, checking the full tiles on the way.
        var rootAtLatest: TreeHash? = latest?.checkpoint.size == 0 ? .empty : nil
        var bundleIndex: UInt64 = 0
        while true {
            let entries = try reader.bundle(bundleIndex)
            for entry in entries {
                try onEntry(state.size, entry)
                for tile in state.append(leafHash: .leaf(entry)) { try checkTile(tile) }
                if state.size == latest?.checkpoint.size { rootAtLatest = state.root }
            }
            guard entries.count == TilePath.width else {
                bundle = entries
                break
            }
            bundleIndex += 1
        }
        removeStrayBundles(after: bundleIndex)
        removeStaleTiles()
        if let latest {
            guard state.size >= latest.checkpoint.size else {
                throw ReceiptLogError(
                    "the receipt log \(directory) holds \(state.size) entries, but its checkpoint signed \(latest.checkpoint.size): entries were lost; run popaudit verify on it"
                )
            }
            guard rootAtLatest == latest.checkpoint.root else {
                throw ReceiptLogError(
                    "the entries of the receipt log \(directory) do not give the root its checkpoint of size \(latest.checkpoint.size) signed: entries were altered; run popaudit verify on it"
                )
            }
            checkpoint = latest
            if (try? LogFiles.read("\(directory)/checkpoint")) != Array(latest.note.utf8) {
                try LogFiles.replace("\(directory)/checkpoint", with: Array(latest.note.utf8), sync: true)
                repairs.append("rewrote checkpoint from the last note of checkpoints.log")
            }
        }
        // The partial tiles of the current size, rewritten whatever was there.
        var empty = TileState()
        swap(&empty, &state)
        let recovered = empty
        try writeTiles(of: recovered, completed: [])
        state = recovered
        if !bundle.isEmpty {
            partialPaths["entries"] = "\(directory)/\(TilePath.partialDirectory(of: TilePath.entryBundle(index: bundleIndex)))/\(bundle.count)"
        }
        if latest == nil {
            try LogFiles.sync(files: unsynced)
            unsynced.removeAll()
            try publish(
                try SignedCheckpoint(signing: Checkpoint(origin: signer.name, size: state.size, root: state.root), with: signer)
            )
        } else {
            try signCheckpoint()
        }
    }

    private func checkTile(_ tile: TileState.FullTile) throws {
        let path = "\(directory)/\(TilePath.hashTile(level: tile.level, index: tile.index))"
        let expected = HashTile.encode(tile.hashes)
        guard try LogFiles.read(path) != expected else { return }
        try LogFiles.makeDirectory((path as NSString).deletingLastPathComponent)
        try LogFiles.replace(path, with: expected, sync: false)
        unsynced.insert(path)
        repairs.append("rewrote tile \(tile.level)/\(tile.index) from the entries")
    }

    /// Tiles at or past the right edge that a crash left from entries that did not survive: the
    /// current tile of each level is partial, so a full file of it, or another width, is stale.
    private func removeStaleTiles() {
        for level in state.partial.indices {
            let full = TilePath.hashTile(level: level, index: state.counts[level] / UInt64(TilePath.width))
            let width = state.partial[level].count
            if (try? LogFiles.read("\(directory)/\(full)")) != nil {
                LogFiles.remove("\(directory)/\(full)")
                repairs.append("removed the stale full tile \(full)")
            }
            let partials = "\(directory)/\(TilePath.partialDirectory(of: full))"
            for name in LogFiles.list(partials) where name != String(width) {
                LogFiles.remove("\(partials)/\(name)")
            }
            if width > 0 { partialPaths["tile/\(level)"] = "\(partials)/\(width)" }
        }
    }

    /// A partial bundle after the last whole one, or wider than what reads whole, was torn by a crash.
    private func removeStrayBundles(after last: UInt64) {
        let full = "\(directory)/\(TilePath.entryBundle(index: last))"
        let partials = TilePath.partialDirectory(of: full)
        for name in LogFiles.list(partials) where Int(name) != bundle.count {
            LogFiles.remove("\(partials)/\(name)")
            repairs.append("removed the torn or stale partial bundle \(partials)/\(name)")
        }
        // Tiles of the previous partial widths are replaced by `writeTiles` on the first append.
    }
}
