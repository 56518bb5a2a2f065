import Foundation

#if canImport(Glibc)
import Glibc
#endif

/// Appends entries to a c2sp.org/tlog-tiles log in a directory and signs its checkpoints.
///
/// Layout: `tile/entries/…` (entry bundles), `tile/<level>/…` (hash tiles), `checkpoint` (the
/// latest signed checkpoint), `checkpoints.log` (every checkpoint signed, appended in order), and
/// `journal.<first index>` (the entries appended since the last checkpoint; not part of the
/// tlog-tiles layout).
///
/// Durability, in two steps:
/// 1. ``append(_:)`` writes the entries to the journal, in one `write(2)`. When it returns they
///    survive the process being killed: they are in the kernel's page cache. Any thread may
///    append; the journal's lock keeps appends whole and in order.
/// 2. ``signCheckpoint()`` writes the bundles and tiles of everything appended since the last
///    checkpoint, makes them durable (syncfs), signs the new size, appends the note to `checkpoints.log` (fsynced)
///    and replaces `checkpoint`. Appends go on meanwhile, into a new journal the checkpoint
///    started when it took the entries; the old one is removed once they are signed. A signed checkpoint
///    never covers an entry that a power loss could take, and the tiles, read by the receipt API
///    and copied by exports, are written a few times a second rather than for every batch.
///
/// On open, the log is replayed from its bundles and then the journal: every full tile is checked
/// against the entries (and rewritten when missing or wrong), the tree is checked against the
/// latest checkpoint, a torn tail of `checkpoints.log` or of the journal is cut off, and entries
/// journaled after the last checkpoint are kept and signed. ``signCheckpoint()`` and ``close()``
/// belong to one thread (popgated's writer thread); an exclusive lock on `DIR/.lock` keeps a
/// second process out.
public final class TileLogWriter: @unchecked Sendable {
    public let directory: String
    private let signer: NoteSigner
    private let reader: TileLogReader
    /// Every entry taken from the journal into the tree (the writer thread's).
    private var state = TileState()
    /// The entries of the bundle being filled.
    private var bundle: [[UInt8]] = []
    /// Bundles and tiles completed since the last publication, to be written by the next.
    private var completedBundles: [(index: UInt64, entries: [[UInt8]])] = []
    private var completedTiles: [TileState.FullTile] = []
    /// The partial files last written, removed when a wider one replaces them.
    private var partialPaths: [String: String] = [:]
    private var madeDirectories: Set<String> = []
    private var lockDescriptor: Int32
    // Guarded by `journalLock`: the journal, and the entries appended since the tree last took them.
    private let journalLock = NSLock()
    private var journal: Int32 = -1
    private var journalLength = 0
    private var journaled: [[UInt8]] = []
    private var appended: UInt64 = 0
    /// Journals whose entries the tree has taken, removed once a checkpoint covers them (the
    /// writer thread's).
    private var retiredJournals: [String] = []
    private var journalPath = ""
    /// The latest signed checkpoint.
    public private(set) var checkpoint: SignedCheckpoint
    /// Repairs made on open (tiles rewritten, a torn tail cut), for the daemon's log.
    public private(set) var repairs: [String] = []

    static let journalPrefix = "journal."

    /// The number of entries appended.
    public var size: UInt64 { journalLock.withLock { appended } }

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
            close()
            throw error
        }
    }

    deinit {
        close()
    }

    /// Releases the journal and the directory's lock: another writer may open the log. Nothing
    /// may be appended after.
    public func close() {
        journalLock.withLock {
            if journal >= 0 { Glibc.close(journal) }
            journal = -1
        }
        guard lockDescriptor >= 0 else { return }
        Glibc.close(lockDescriptor)
        lockDescriptor = -1
    }

    // MARK: Appending

    /// Appends `entries` to the journal; returns the index of the first. On a throw nothing changed.
    @discardableResult
    public func append(_ entries: [[UInt8]]) throws -> UInt64 {
        let bytes = EntryBundle.encode(entries)
        return try journalLock.withLock {
            guard journal >= 0 else { throw ReceiptLogError("the receipt log \(directory) is closed") }
            do {
                try LogFiles.writeAll(journal, bytes, path: journalPath)
            } catch {
                // A record cut short would sit in front of the next append's: cut it off.
                _ = ftruncate(journal, off_t(journalLength))
                throw error
            }
            journalLength += bytes.count
            journaled += entries
            defer { appended += UInt64(entries.count) }
            return appended
        }
    }

    /// Adds an entry to the tree in memory, noting the bundle and tiles it completes.
    private func take(_ entry: [UInt8]) {
        completedTiles += state.append(leafHash: .leaf(entry))
        bundle.append(entry)
        if bundle.count == TilePath.width {
            completedBundles.append((state.size / UInt64(TilePath.width) - 1, bundle))
            bundle = []
        }
    }

    /// Publishes everything appended and signs a checkpoint of it; a no-op when the latest
    /// checkpoint already has this size.
    @discardableResult
    public func signCheckpoint() throws -> Bool {
        // The entries so far are taken, and appends go on into a new journal starting after them.
        let taken: [[UInt8]] = try journalLock.withLock {
            guard !journaled.isEmpty else { return [] }
            let previous = journalPath
            try startJournal(at: appended)
            retiredJournals.append(previous)
            defer { journaled = [] }
            return journaled
        }
        for entry in taken { take(entry) }
        guard checkpoint.checkpoint.size != state.size else { return false }
        for (index, entries) in completedBundles {
            try writeVersioned(
                full: TilePath.entryBundle(index: index), key: "entries", width: TilePath.width,
                bytes: EntryBundle.encode(entries)
            )
        }
        if !bundle.isEmpty {
            try writeVersioned(
                full: TilePath.entryBundle(index: state.size / UInt64(TilePath.width)), key: "entries",
                width: bundle.count, bytes: EntryBundle.encode(bundle)
            )
        }
        for tile in completedTiles {
            try writeVersioned(
                full: TilePath.hashTile(level: tile.level, index: tile.index), key: "tile/\(tile.level)",
                width: TilePath.width, bytes: HashTile.encode(tile.hashes)
            )
        }
        for level in state.partial.indices where !state.partial[level].isEmpty {
            try writeVersioned(
                full: TilePath.hashTile(level: level, index: state.counts[level] / UInt64(TilePath.width)),
                key: "tile/\(level)", width: state.partial[level].count, bytes: HashTile.encode(state.partial[level])
            )
        }
        // Every entry the old journals hold is in a bundle now (in the page cache: safe from a
        // crash of the process). Removed before the sync, their pages are never written to disk.
        for path in retiredJournals { LogFiles.remove(path) }
        retiredJournals = []
        try LogFiles.syncFileSystem(of: directory)
        let signed = try SignedCheckpoint(
            signing: Checkpoint(origin: signer.name, size: state.size, root: state.root), with: signer
        )
        try publish(signed)
        completedBundles = []
        completedTiles = []
        return true
    }

    private func publish(_ signed: SignedCheckpoint) throws {
        // checkpoints.log first: a crash between the two leaves the log one ahead, and recovery
        // copies its last note into `checkpoint`, never the other way round.
        try LogFiles.append("\(directory)/\(CheckpointLog.fileName)", Array(signed.note.utf8))
        try LogFiles.replace("\(directory)/checkpoint", with: Array(signed.note.utf8), sync: true)
        try LogFiles.syncFileSystem(of: directory)
        checkpoint = signed
    }

    /// A new, empty journal for the entries from index `first` on, which appends go to from now.
    /// Its header (the index, big-endian) is written whole before it is named. Called with
    /// `journalLock` held.
    private func startJournal(at first: UInt64) throws {
        var header: [UInt8] = []
        withUnsafeBytes(of: first.bigEndian) { header += $0 }
        let path = "\(directory)/\(Self.journalPrefix)\(first)"
        try LogFiles.replace(path, with: header, sync: false)
        let fd = try LogFiles.open(path, O_WRONLY | O_APPEND | O_CLOEXEC, mode: 0)
        if journal >= 0 { Glibc.close(journal) }
        journal = fd
        journalPath = path
        journalLength = header.count
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
        if let previous = partialPaths[key], previous != path,
           width == TilePath.width ? previous.hasPrefix(TilePath.partialDirectory(of: "\(directory)/\(full)") + "/") : true
        {
            LogFiles.remove(previous)
            let previousParent = (previous as NSString).deletingLastPathComponent
            if previousParent != parent {
                LogFiles.remove(previousParent)
                madeDirectories.remove(previousParent)
            }
            partialPaths[key] = nil
        }
        if width != TilePath.width { partialPaths[key] = path }
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
        var rootAtLatest: TreeHash? = latest?.checkpoint.size == 0 ? .empty : nil
        func replay(_ entry: [UInt8]) throws {
            try onEntry(state.size, entry)
            for tile in state.append(leafHash: .leaf(entry)) { try checkTile(tile) }
            if state.size == latest?.checkpoint.size { rootAtLatest = state.root }
        }
        // The bundles, checking the full tiles on the way.
        var bundleIndex: UInt64 = 0
        while true {
            let entries = try reader.bundle(bundleIndex)
            for entry in entries { try replay(entry) }
            guard entries.count == TilePath.width else {
                bundle = entries
                break
            }
            bundleIndex += 1
        }
        removeStrayBundles(after: bundleIndex)
        removeStaleTiles()
        // Then what the journals hold past them, oldest first.
        let journals = try journalFiles()
        for (path, base) in journals {
            for entry in try journalEntries(path, base: base, after: state.size) {
                try onEntry(state.size, entry)
                take(entry)
                if state.size == latest?.checkpoint.size { rootAtLatest = state.root }
            }
        }
        appended = state.size
        // Appends go to a new journal; the old ones go once a checkpoint covers what they hold.
        try journalLock.withLock { try startJournal(at: appended) }
        retiredJournals = journals.map(\.path).filter { $0 != journalPath }
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
            if state.size == latest.checkpoint.size {
                // Nothing to sign; the partial files of this size are rewritten whatever was there.
                try rewritePartials()
                for path in retiredJournals { LogFiles.remove(path) }
                retiredJournals = []
            } else {
                try signCheckpoint()
            }
        } else if state.size == 0 {
            // A new log: its first checkpoint is of the empty tree.
            try publish(checkpoint)
        } else {
            // Entries but never a checkpoint (a crash before the first): they are signed now.
            try rewritePartials()
            try signCheckpoint()
        }
    }

    /// The journals in the directory and the index each starts at, oldest first (a temporary
    /// one a crash left is removed).
    private func journalFiles() throws -> [(path: String, base: UInt64)] {
        var found: [(path: String, base: UInt64)] = []
        for name in LogFiles.list(directory) where name.hasPrefix(Self.journalPrefix) {
            let path = "\(directory)/\(name)"
            guard let base = UInt64(name.dropFirst(Self.journalPrefix.count)) else {
                LogFiles.remove(path)
                continue
            }
            found.append((path, base))
        }
        return found.sorted { $0.base < $1.base }
    }

    /// The entries of the journal at `path` (whose first is `base`) at or past index `from`; a
    /// record cut short by a crash is cut off.
    private func journalEntries(_ path: String, base: UInt64, after from: UInt64) throws -> [[UInt8]] {
        guard let bytes = try LogFiles.read(path), bytes.count >= 8 else { return [] }
        guard base <= from else {
            throw ReceiptLogError(
                "the receipt log \(directory) lacks entries \(from) to \(base - 1): they are in no bundle and no journal; run popaudit verify on it"
            )
        }
        var entries: [[UInt8]] = []
        var offset = 8
        while offset + 2 <= bytes.count {
            let count = Int(bytes[offset]) << 8 | Int(bytes[offset + 1])
            guard offset + 2 + count <= bytes.count else { break }
            entries.append(Array(bytes[(offset + 2)..<(offset + 2 + count)]))
            offset += 2 + count
        }
        if offset < bytes.count {
            try LogFiles.truncate(path, to: offset)
            repairs.append("cut a torn entry of \(bytes.count - offset) bytes from the end of \(path)")
        }
        return Array(entries.dropFirst(Int(min(from - base, UInt64(entries.count)))))
    }

    /// The partial bundle and tiles of the current size, written anew.
    private func rewritePartials() throws {
        if !bundle.isEmpty {
            try writeVersioned(
                full: TilePath.entryBundle(index: state.size / UInt64(TilePath.width)), key: "entries",
                width: bundle.count, bytes: EntryBundle.encode(bundle)
            )
        }
        for level in state.partial.indices where !state.partial[level].isEmpty {
            try writeVersioned(
                full: TilePath.hashTile(level: level, index: state.counts[level] / UInt64(TilePath.width)),
                key: "tile/\(level)", width: state.partial[level].count, bytes: HashTile.encode(state.partial[level])
            )
        }
        try LogFiles.syncFileSystem(of: directory)
    }

    private func checkTile(_ tile: TileState.FullTile) throws {
        let path = "\(directory)/\(TilePath.hashTile(level: tile.level, index: tile.index))"
        let expected = HashTile.encode(tile.hashes)
        guard try LogFiles.read(path) != expected else { return }
        try LogFiles.makeDirectory((path as NSString).deletingLastPathComponent)
        try LogFiles.replace(path, with: expected, sync: true)
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
        if !bundle.isEmpty { partialPaths["entries"] = "\(partials)/\(bundle.count)" }
    }
}
