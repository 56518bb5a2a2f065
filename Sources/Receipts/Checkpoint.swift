/// A c2sp.org/tlog-checkpoint body: the log's origin, its size, and its root hash.
public struct Checkpoint: Sendable, Equatable {
    public let origin: String
    public let size: UInt64
    public let root: TreeHash

    public init(origin: String, size: UInt64, root: TreeHash) {
        self.origin = origin
        self.size = size
        self.root = root
    }

    /// The note text: three lines, each ending in a newline.
    public var text: String { "\(origin)\n\(size)\n\(root.base64)\n" }

    /// Parses a checkpoint text; extension lines after the root are allowed and ignored.
    public init(text: String) throws(NoteError) {
        let lines = text.split(separator: "\n", omittingEmptySubsequences: false)
        guard lines.count >= 4, lines.last == "" else {
            throw NoteError("a checkpoint has an origin, a size and a root hash, each on its own line")
        }
        guard !lines[0].isEmpty else { throw NoteError("the checkpoint's origin line is empty") }
        guard let size = UInt64(lines[1]), String(size) == lines[1] else {
            throw NoteError("the checkpoint size \"\(lines[1])\" is not a decimal number without leading zeros")
        }
        guard let root = TreeHash(base64: lines[2]) else {
            throw NoteError("the checkpoint root \"\(lines[2])\" is not the base64 of 32 bytes")
        }
        origin = String(lines[0])
        self.size = size
        self.root = root
    }
}

/// A checkpoint with its signed note, as stored in `checkpoint` and `checkpoints.log`.
public struct SignedCheckpoint: Sendable, Equatable {
    public let checkpoint: Checkpoint
    /// The whole signed note.
    public let note: String

    /// Parses `note` and checks it is signed by `verifier` and names the verifier's log.
    public init(note: String, verifier: NoteVerifier) throws(NoteError) {
        let text = try SignedNote(parsing: note).verifiedText(by: verifier)
        let checkpoint = try Checkpoint(text: text)
        guard checkpoint.origin == verifier.name else {
            throw NoteError("the checkpoint is of log \"\(checkpoint.origin)\", not of \(verifier.name)")
        }
        self.checkpoint = checkpoint
        self.note = note
    }

    /// Signs `checkpoint` with `signer`, whose name must be the checkpoint's origin.
    public init(signing checkpoint: Checkpoint, with signer: NoteSigner) throws(NoteError) {
        precondition(checkpoint.origin == signer.name, "a log signs checkpoints with its own origin")
        self.checkpoint = checkpoint
        note = try signer.sign(checkpoint.text)
    }
}
