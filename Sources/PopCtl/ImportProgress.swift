import Foundation

#if canImport(Glibc)
import Glibc
#endif

/// The progress bar on standard error, drawn only when it is a terminal.
struct ImportProgress {
    let enabled: Bool

    static var standardError: ImportProgress { ImportProgress(enabled: isatty(STDERR_FILENO) == 1) }
    static var silent: ImportProgress { ImportProgress(enabled: false) }

    func update(_ done: Int, of total: Int) {
        guard enabled, total > 0 else { return }
        let width = 30
        let filled = width * done / total
        let bar = String(repeating: "#", count: filled) + String(repeating: "-", count: width - filled)
        FileHandle.standardError.write(Data("\rimporting [\(bar)] \(done)/\(total) rows".utf8))
    }

    func finish(total: Int) {
        guard enabled, total > 0 else { return }
        FileHandle.standardError.write(Data("\n".utf8))
    }
}
