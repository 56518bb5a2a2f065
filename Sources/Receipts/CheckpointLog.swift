/// `checkpoints.log`: every checkpoint the log ever signed, each signed note appended whole, in
/// order. Auditors check each of them against the tree (the log was only ever appended to).
public enum CheckpointLog {
    public static let fileName = "checkpoints.log"

    /// The notes in `bytes`, and the length of the part that holds whole notes. A last note cut
    /// short by a crash (no signature line yet, or no final newline) is left out of both.
    public static func split(_ bytes: [UInt8]) -> (notes: [String], wholeLength: Int) {
        var notes: [String] = []
        var wholeLength = 0
        var start = 0
        var lineStart = 0
        var inSignatures = false
        var index = 0
        // A note ends after its last signature line: where the next line is not one.
        while index < bytes.count {
            guard bytes[index] == 0x0A else {
                index += 1
                continue
            }
            let line = bytes[lineStart..<index]
            let isSignature = line.starts(with: Array("— ".utf8))
            if inSignatures && !isSignature {
                notes.append(String(decoding: bytes[start..<lineStart], as: UTF8.self))
                wholeLength = lineStart
                start = lineStart
                inSignatures = false
            } else if isSignature && lineStart > start && bytes[lineStart - 1] == 0x0A
                && lineStart >= 2 && bytes[lineStart - 2] == 0x0A
            {
                inSignatures = true
            }
            index += 1
            lineStart = index
        }
        if inSignatures && lineStart == bytes.count {
            notes.append(String(decoding: bytes[start..<lineStart], as: UTF8.self))
            wholeLength = lineStart
        }
        return (notes, wholeLength)
    }
}
