import Dispatch
import Foundation

#if canImport(Glibc)
import Glibc
#endif

/// Wakes a daemon as soon as another process commits to the registry, instead of at its next poll.
///
/// Every successful write transaction through ``RegistryStore`` ends by touching a sidecar file,
/// `<database>-notify`, after the commit is visible; daemons watch the database's directory with
/// inotify for that name. The sidecar, rather than the WAL itself, because SQLite writes WAL frames
/// before it publishes the commit in shared memory: a reader woken by the WAL write could read the
/// old revision and go back to sleep. The daemons still poll the revision counter as a fallback
/// (a writer that bypasses popgate, such as the sqlite3 shell, or a lost event), so a missed
/// signal costs at most one poll interval.
public final class RegistryChangeSignal: RegistryChangeWaiting, @unchecked Sendable {
    private let fd: Int32
    private let notifyName: String
    // One blocking poll(2) at a time; waits are short (at most a poll interval), so a serial queue suffices.
    private let queue = DispatchQueue(label: "popgate.registry-change-signal")

    /// Watches for commits to the database at `path`; nil when inotify is unavailable.
    public init?(databasePath path: String) {
        let directory = (path as NSString).deletingLastPathComponent
        let fd = inotify_init1(Int32(IN_CLOEXEC | IN_NONBLOCK))
        guard fd >= 0 else { return nil }
        guard inotify_add_watch(fd, directory.isEmpty ? "." : directory, UInt32(IN_CLOSE_WRITE | IN_ATTRIB)) >= 0
        else {
            close(fd)
            return nil
        }
        self.fd = fd
        notifyName = Self.notifyPath(databasePath: path).split(separator: "/").last.map(String.init) ?? ""
    }

    deinit { close(fd) }

    /// The sidecar file whose touch announces a commit.
    static func notifyPath(databasePath: String) -> String { databasePath + "-notify" }

    /// Announces a commit to the database at `path`. Best effort: a failure only delays the
    /// followers to their next poll, so it is not reported.
    static func announce(databasePath path: String) {
        let fd = open(notifyPath(databasePath: path), O_WRONLY | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0o600)
        guard fd >= 0 else { return }
        // Opening an existing file for writing and closing it is enough for IN_CLOSE_WRITE.
        close(fd)
    }

    /// Returns when a commit was announced, or after `timeout`, whichever is first. Announcements
    /// made while nobody waited are not lost: they end the next wait at once.
    public func wait(upTo timeout: Duration) async {
        let (seconds, attoseconds) = timeout.components
        let milliseconds = Int(clamping: seconds) &* 1000 + Int(attoseconds / 1_000_000_000_000_000)
        await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
            queue.async { [self] in
                waitBlocking(milliseconds: max(0, milliseconds))
                continuation.resume()
            }
        }
    }

    private func waitBlocking(milliseconds: Int) {
        let deadline = DispatchTime.now().uptimeNanoseconds + UInt64(milliseconds) * 1_000_000
        var buffer = [UInt8](repeating: 0, count: 4096)
        while true {
            let now = DispatchTime.now().uptimeNanoseconds
            guard now < deadline else { return }
            var descriptor = pollfd(fd: fd, events: Int16(POLLIN), revents: 0)
            let ready = poll(&descriptor, 1, Int32(clamping: (deadline - now) / 1_000_000 + 1))
            if ready < 0 && errno == EINTR { continue }
            guard ready > 0 else { return }
            let count = buffer.withUnsafeMutableBytes { read(fd, $0.baseAddress, $0.count) }
            guard count > 0 else { continue }
            if InotifyEvents.names(in: buffer[0..<count]).contains(notifyName) { return }
        }
    }
}

/// Decodes the names in a buffer of `struct inotify_event` records, as read(2) returns them.
enum InotifyEvents {
    static func names(in bytes: ArraySlice<UInt8>) -> [String] {
        let headerSize = MemoryLayout<inotify_event>.size
        let lengthOffset = MemoryLayout<inotify_event>.offset(of: \.len)!
        var names: [String] = []
        var offset = bytes.startIndex
        while offset + headerSize <= bytes.endIndex {
            let nameLength = bytes.withUnsafeBytes { raw in
                Int(raw.loadUnaligned(fromByteOffset: offset - bytes.startIndex + lengthOffset, as: UInt32.self))
            }
            let nameStart = offset + headerSize
            let nameEnd = min(nameStart + nameLength, bytes.endIndex)
            names.append(String(decoding: bytes[nameStart..<nameEnd].prefix { $0 != 0 }, as: UTF8.self))
            offset = nameStart + nameLength
        }
        return names
    }
}
