import Foundation

/// Runs a host tool (wireguard-go, ip) to completion and reports its failure in full.
///
/// Only popnetd runs these, with arguments it built itself: no shell, no user text.
enum HostCommand {
    /// Runs `executable` (looked up on PATH) and returns its standard output.
    @discardableResult
    static func run(_ executable: String, _ arguments: [String], environment: [String: String]? = nil) throws(NetAgentError) -> String {
        guard let path = resolve(executable) else {
            throw NetAgentError("\(executable) is not installed or not on PATH; install it (see README: make deps)")
        }
        let process = Process()
        process.executableURL = URL(fileURLWithPath: path)
        process.arguments = arguments
        if let environment { process.environment = ProcessInfo.processInfo.environment.merging(environment) { $1 } }
        let output = Pipe()
        let errors = Pipe()
        process.standardOutput = output
        process.standardError = errors
        process.standardInput = FileHandle.nullDevice
        do {
            try process.run()
        } catch {
            throw NetAgentError("cannot start \(path): \(error)")
        }
        // Read before waiting so a chatty tool cannot block on a full pipe.
        let out = output.fileHandleForReading.readDataToEndOfFile()
        let err = errors.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        guard process.terminationStatus == 0 else {
            let message = String(decoding: err, as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)
            throw NetAgentError("`\(executable) \(arguments.joined(separator: " "))` failed (exit \(process.terminationStatus)): \(message)")
        }
        return String(decoding: out, as: UTF8.self)
    }

    static func resolve(_ executable: String) -> String? {
        if executable.contains("/") { return FileManager.default.isExecutableFile(atPath: executable) ? executable : nil }
        let path = ProcessInfo.processInfo.environment["PATH"] ?? "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
        return path.split(separator: ":").map { "\($0)/\(executable)" }.first { FileManager.default.isExecutableFile(atPath: $0) }
    }
}
