import Foundation

/// What `popaudit verify` finds in a receipt log directory.
public struct AuditReport: Codable, Sendable, Equatable {
    /// Whether everything checked out.
    public var valid: Bool { problem == nil }
    /// The first thing wrong, naming the entry, tile or checkpoint; nil when valid.
    public var problem: String?
    /// Entries read (receipts), checkpoints read, tiles checked.
    public var entries: UInt64 = 0
    public var checkpoints = 0
    public var tiles = 0
    /// The latest checkpoint's size and root.
    public var treeSize: UInt64 = 0
    public var rootHash = ""
}

/// Verifies a whole receipt log offline: rebuilds the tree from every entry, checks every tile
/// and every checkpoint ever signed against it (so the log was only ever appended to), and
/// decodes every receipt, checking ids are unique and times never go back.
public enum LogAudit {
    public static func verify(directory: String, verifier: NoteVerifier) -> AuditReport {
        var report = AuditReport()
        do {
            try verify(directory: directory, verifier: verifier, into: &report)
        } catch let error as AuditFailure {
            report.problem = error.reason
        } catch {
            report.problem = "\(error)"
        }
        return report
    }

    private struct AuditFailure: Error {
        let reason: String
        init(_ reason: String) { self.reason = reason }
    }

    private static func verify(directory: String, verifier: NoteVerifier, into report: inout AuditReport) throws {
        // Every checkpoint ever signed, in order.
        let logPath = "\(directory)/\(CheckpointLog.fileName)"
        guard let logBytes = try LogFiles.read(logPath) else { throw AuditFailure("\(logPath) is missing") }
        let (notes, wholeLength) = CheckpointLog.split(logBytes)
        guard wholeLength == logBytes.count else {
            throw AuditFailure("\(CheckpointLog.fileName) ends in an incomplete checkpoint after byte \(wholeLength)")
        }
        var checkpoints: [Checkpoint] = []
        for (number, note) in notes.enumerated() {
            let signed: SignedCheckpoint
            do {
                signed = try SignedCheckpoint(note: note, verifier: verifier)
            } catch {
                throw AuditFailure("checkpoint \(number + 1) in \(CheckpointLog.fileName) is invalid: \(error)")
            }
            if let previous = checkpoints.last, signed.checkpoint.size < previous.size {
                throw AuditFailure(
                    "checkpoint \(number + 1) in \(CheckpointLog.fileName) has size \(signed.checkpoint.size), smaller than the \(previous.size) before it: the log shrank"
                )
            }
            checkpoints.append(signed.checkpoint)
        }
        guard let latest = checkpoints.last else { throw AuditFailure("\(CheckpointLog.fileName) holds no checkpoint") }
        report.checkpoints = checkpoints.count
        guard let current = try LogFiles.read("\(directory)/checkpoint") else { throw AuditFailure("checkpoint is missing") }
        guard current == Array(notes.last!.utf8) else {
            throw AuditFailure("checkpoint is not the last checkpoint of \(CheckpointLog.fileName)")
        }

        // Every entry, bundle by bundle, decoded as a receipt.
        var tree = MemoryTree()
        var ids: [ReceiptID: UInt64] = [:]
        var lastTime: UInt64 = 0
        var bundleIndex: UInt64 = 0
        var lastBundle: [[UInt8]] = []
        while true {
            let (entries, path) = try readBundle(directory, bundleIndex)
            for (offset, entry) in entries.enumerated() {
                let index = tree.size
                let receipt: Receipt
                do {
                    receipt = try ReceiptEncoding.decode(entry)
                } catch {
                    throw AuditFailure("entry \(index) (\(path), entry \(offset)) is not a receipt: \(error)")
                }
                if let earlier = ids[receipt.id] {
                    throw AuditFailure("entry \(index) (\(path)) repeats receipt id \(receipt.id) of entry \(earlier)")
                }
                ids[receipt.id] = index
                guard receipt.timeMicroseconds >= lastTime else {
                    throw AuditFailure("entry \(index) (\(path)) is dated \(receipt.timeText), before the entry ahead of it")
                }
                lastTime = receipt.timeMicroseconds
                tree.append(leafHash: .leaf(entry))
            }
            lastBundle = entries
            guard entries.count == TilePath.width else { break }
            bundleIndex += 1
        }
        report.entries = tree.size
        guard tree.size >= latest.size else {
            throw AuditFailure(
                "the latest checkpoint signs \(latest.size) entries but the log holds \(tree.size): entry \(tree.size) on is missing (\(TilePath.entryBundle(index: tree.size / 256)))"
            )
        }
        // Older partial bundles must be prefixes of what the log holds.
        try checkPartialBundles(directory, bundleIndex, lastBundle)

        // Each checkpoint's root, from the entries.
        for (number, checkpoint) in checkpoints.enumerated() {
            guard checkpoint.size <= tree.size else {
                throw AuditFailure("checkpoint \(number + 1) signs \(checkpoint.size) entries; the log holds \(tree.size)")
            }
            let root = try tree.root(size: checkpoint.size)
            guard root == checkpoint.root else {
                // The level-0 tiles record each leaf's hash as it was signed: the first entry that
                // no longer gives its recorded hash is the one altered.
                if let altered = firstLeafDifferingFromTiles(directory, tree) {
                    let path = TilePath.entryBundle(index: altered / UInt64(TilePath.width))
                    throw AuditFailure(
                        "entry \(altered) (in \(path), entry \(altered % UInt64(TilePath.width))) was altered: its hash is not the one tile/0 recorded, and checkpoint \(number + 1) (size \(checkpoint.size)) no longer verifies"
                    )
                }
                throw AuditFailure(
                    "checkpoint \(number + 1) (size \(checkpoint.size)) signs root \(checkpoint.root), but the entries give \(root): the history was rewritten or an entry altered"
                )
            }
        }
        report.treeSize = latest.size
        report.rootHash = latest.root.base64

        // Every hash tile: present where the tree is complete, and equal to the tree's hashes.
        report.tiles = try checkTiles(directory, tree)
    }

    /// A full bundle must read whole; past the last full one, the widest partial bundle is read.
    private static func readBundle(_ directory: String, _ index: UInt64) throws -> ([[UInt8]], String) {
        let full = TilePath.entryBundle(index: index)
        if let bytes = try LogFiles.read("\(directory)/\(full)") {
            guard let entries = try? EntryBundle.decode(bytes), entries.count == TilePath.width else {
                throw AuditFailure("\(full) is not a bundle of 256 entries: it was cut or altered")
            }
            return (entries, full)
        }
        let partials = TilePath.partialDirectory(of: full)
        let widths = LogFiles.list("\(directory)/\(partials)").compactMap { Int($0) }
        guard let widest = widths.max() else { return ([], full) }
        let path = "\(partials)/\(widest)"
        guard let bytes = try LogFiles.read("\(directory)/\(path)"), let entries = try? EntryBundle.decode(bytes),
              entries.count == widest
        else {
            throw AuditFailure("\(path) is not a bundle of \(widest) entries: it was cut or altered")
        }
        return (entries, path)
    }

    private static func checkPartialBundles(_ directory: String, _ index: UInt64, _ entries: [[UInt8]]) throws {
        let partials = TilePath.partialDirectory(of: TilePath.entryBundle(index: index))
        for width in LogFiles.list("\(directory)/\(partials)").compactMap(Int.init) where width < entries.count {
            let path = "\(partials)/\(width)"
            guard let bytes = try LogFiles.read("\(directory)/\(path)"), let older = try? EntryBundle.decode(bytes),
                  older == Array(entries.prefix(width))
            else {
                throw AuditFailure("\(path) differs from the first \(width) entries of the bundle that follows it")
            }
        }
    }

    private static func checkTiles(_ directory: String, _ tree: MemoryTree) throws -> Int {
        var checked = 0
        var level = 0
        while true {
            let height = 8 * level
            let count = height < tree.levels.count ? tree.levels[height].count : 0
            if count == 0 && level > 0 { break }
            let hashes = height < tree.levels.count ? tree.levels[height] : []
            let fullTiles = count / TilePath.width
            for index in 0..<fullTiles {
                let path = TilePath.hashTile(level: level, index: UInt64(index))
                guard let bytes = try LogFiles.read("\(directory)/\(path)") else { throw AuditFailure("\(path) is missing") }
                try compare(bytes, Array(hashes[(index * TilePath.width)..<((index + 1) * TilePath.width)]), path)
                checked += 1
            }
            // The tile being filled: each partial width present must match.
            let partials = TilePath.partialDirectory(of: TilePath.hashTile(level: level, index: UInt64(fullTiles)))
            for width in LogFiles.list("\(directory)/\(partials)").compactMap(Int.init) {
                let path = "\(partials)/\(width)"
                let start = fullTiles * TilePath.width
                guard start + width <= count else {
                    throw AuditFailure("\(path) holds \(width) hashes, past the \(count - start) the entries give")
                }
                try compare(try LogFiles.read("\(directory)/\(path)") ?? [], Array(hashes[start..<(start + width)]), path)
                checked += 1
            }
            level += 1
        }
        return checked
    }

    private static func firstLeafDifferingFromTiles(_ directory: String, _ tree: MemoryTree) -> UInt64? {
        let reader = TileLogReader(directory: directory)
        var index: UInt64 = 0
        while index < tree.size {
            guard let recorded = try? reader.tile(level: 0, index: index / UInt64(TilePath.width)), !recorded.isEmpty else {
                return nil
            }
            for hash in recorded where index < tree.size {
                if hash != tree.levels[0][Int(index)] { return index }
                index += 1
            }
        }
        return nil
    }

    private static func compare(_ bytes: [UInt8], _ expected: [TreeHash], _ path: String) throws {
        guard bytes.count == expected.count * 32 else {
            throw AuditFailure("\(path) is \(bytes.count) bytes; \(expected.count) hashes are \(expected.count * 32)")
        }
        for (position, hash) in expected.enumerated() where Array(bytes[(position * 32)..<((position + 1) * 32)]) != hash.bytes {
            throw AuditFailure("\(path) does not match the entries: hash \(position) differs")
        }
    }
}
