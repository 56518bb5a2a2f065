import Foundation

/// Copies a live receipt log for an auditor, while popgated keeps appending to it.
///
/// `checkpoints.log` and `checkpoint` are copied first, then the tiles and bundles: full ones never
/// change, and a partial one is only ever replaced by a wider one, so whatever is copied after the
/// checkpoint covers at least the entries it signs. A partial file that vanishes between listing
/// and copying has been replaced; the copy pass is repeated until one finds nothing missing.
public enum LogExport {
    public struct Summary: Sendable {
        public let files: Int
        public let checkpoint: Checkpoint
    }

    public static func copy(from source: String, to destination: String) throws -> Summary {
        let manager = FileManager.default
        if manager.fileExists(atPath: destination) {
            guard (try? manager.contentsOfDirectory(atPath: destination))?.isEmpty == true else {
                throw ReceiptLogError("\(destination) exists and is not empty; export into a new directory")
            }
        }
        guard manager.fileExists(atPath: "\(source)/checkpoint") else {
            throw ReceiptLogError("\(source) holds no receipt log (no checkpoint file); check receipts.directory in popgate.toml")
        }
        try LogFiles.makeDirectory(destination)
        var files = 0
        for name in [CheckpointLog.fileName, "checkpoint"] {
            guard let bytes = try LogFiles.read("\(source)/\(name)") else { throw ReceiptLogError("\(source)/\(name) is missing") }
            try LogFiles.replace("\(destination)/\(name)", with: bytes, sync: false)
            files += 1
        }
        let note = String(decoding: try LogFiles.read("\(destination)/checkpoint") ?? [], as: UTF8.self)
        let checkpoint = try Checkpoint(text: SignedNote(parsing: note).text)
        for _ in 0..<5 {
            var vanished = false
            let tiles = manager.enumerator(atPath: "\(source)/tile")
            while let relative = tiles?.nextObject() as? String {
                let path = "\(source)/tile/\(relative)"
                var isDirectory: ObjCBool = false
                guard !relative.hasSuffix(".tmp"), manager.fileExists(atPath: path, isDirectory: &isDirectory) else {
                    vanished = vanished || !relative.hasSuffix(".tmp")
                    continue
                }
                let target = "\(destination)/tile/\(relative)"
                if isDirectory.boolValue {
                    try LogFiles.makeDirectory(target)
                    continue
                }
                guard let bytes = try LogFiles.read(path) else {
                    vanished = true
                    continue
                }
                if try LogFiles.read(target) == nil { files += 1 }
                try LogFiles.replace(target, with: bytes, sync: false)
            }
            if !vanished { break }
        }
        return Summary(files: files, checkpoint: checkpoint)
    }
}
