#if canImport(Glibc)
import Glibc
#endif

/// Starts a program that daemonises itself (wireguard-go) and waits for its first process to
/// exit, which it does once the daemon is ready.
///
/// Foundation's Process cannot be used here: it learns of the child's exit through a socket
/// that the forked daemon inherits, so it would wait forever. posix_spawn with every other
/// descriptor closed, stdio on /dev/null, and waitpid has no such leak.
enum DaemonLauncher {
    static func run(_ executable: String, _ arguments: [String]) throws(NetAgentError) {
        guard let path = resolve(executable) else {
            throw NetAgentError("\(executable) is not installed or not on PATH; install it (see README: make deps)")
        }
        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        for fd: Int32 in 0...2 {
            posix_spawn_file_actions_addopen(&actions, fd, "/dev/null", fd == 0 ? O_RDONLY : O_WRONLY, 0)
        }
        // glibc's addclosefrom_np is not visible to Swift; close what /proc says is open.
        for fd in openDescriptors() where fd > 2 {
            posix_spawn_file_actions_addclose(&actions, fd)
        }

        let argv = ([path] + arguments).map { strdup($0) } + [nil]
        defer { for pointer in argv { free(pointer) } }
        var pid: pid_t = 0
        let spawned = posix_spawn(&pid, path, &actions, nil, argv, environ)
        guard spawned == 0 else {
            throw NetAgentError("cannot start \(path): \(String(cString: strerror(spawned))) (errno \(spawned))")
        }
        var status: Int32 = 0
        while waitpid(pid, &status, 0) < 0 {
            guard errno == EINTR else { throw NetAgentError("waiting for \(path) failed: errno \(errno)") }
        }
        let exited = status & 0x7f == 0
        let code = (status >> 8) & 0xff
        guard exited && code == 0 else {
            throw NetAgentError(
                "`\(executable) \(arguments.joined(separator: " "))` failed (\(exited ? "exit \(code)" : "signal \(status & 0x7f)")); "
                    + "run `\(executable) -f \(arguments.joined(separator: " "))` by hand to see its messages"
            )
        }
    }

    static func resolve(_ executable: String) -> String? {
        if executable.contains("/") { return access(executable, X_OK) == 0 ? executable : nil }
        let path = getenv("PATH").map { String(cString: $0) } ?? "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
        return path.split(separator: ":").map { "\($0)/\(executable)" }.first { access($0, X_OK) == 0 }
    }

    private static func openDescriptors() -> [Int32] {
        guard let directory = opendir("/proc/self/fd") else { return [] }
        defer { closedir(directory) }
        let own = dirfd(directory)
        var out: [Int32] = []
        while let entry = readdir(directory) {
            let name = withUnsafeBytes(of: entry.pointee.d_name) { String(decoding: $0.prefix { $0 != 0 }, as: UTF8.self) }
            if let fd = Int32(name), fd != own { out.append(fd) }
        }
        return out
    }
}
