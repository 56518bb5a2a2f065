import Foundation

#if canImport(Glibc)
import Glibc
#endif

/// A file's owner, by number.
struct Owner: Equatable {
    let user: uid_t
    let group: gid_t
}

/// What `node init` did to each path, in order. Owners and modes are set through a descriptor opened
/// with O_NOFOLLOW: popgated owns some of these paths' neighbours, and a symbolic link planted where
/// a file was expected must never hand root's chown to its target.
struct NodeReport {
    /// What popgated must be able to do in a directory that existed before: reach a file in it, or
    /// also list and watch it (the registry's directory, for its change signal).
    enum Access {
        case traverse
        case read
    }

    let gateway: Owner
    private(set) var lines: [String] = []

    init(gateway: Owner) { self.gateway = gateway }

    /// Makes `path` a directory: a new one gets `owner` and `mode`; an existing one gets them only with
    /// `enforce` (a directory that is popgate's own), else it is only checked to give popgated `gatewayNeeds`.
    mutating func directory(
        _ path: String, owner: Owner, mode: mode_t, gatewayNeeds: Access? = nil, enforce: Bool = false
    ) throws {
        var created = false
        if !FileManager.default.fileExists(atPath: path) {
            do {
                try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
            } catch {
                throw PopctlError("cannot create \(path): \(error.localizedDescription)")
            }
            created = true
        }
        if created || enforce {
            try file(path, created: created, owner: owner, mode: mode, directory: true)
            return
        }
        try withDescriptor(path, directory: true) { _, info in
            if let needs = gatewayNeeds, !reachable(info, needs) {
                throw PopctlError(
                    "popgated (uid \(gateway.user)) cannot \(needs == .read ? "read" : "reach") \(path): make it group "
                        + "\(gateway.group) with mode 0750 (`chgrp popgate \(path); chmod 0750 \(path)`), or use another path"
                )
            }
        }
        lines.append(Self.line("ok", path))
    }

    /// Gives the file or directory at `path` `owner` and `mode`, reporting what it had to change.
    mutating func file(_ path: String, created: Bool, owner: Owner, mode: mode_t, directory: Bool = false) throws {
        var changed = false
        try withDescriptor(path, directory: directory) { fd, info in
            if info.st_uid != owner.user || info.st_gid != owner.group {
                guard fchown(fd, owner.user, owner.group) == 0 else { throw Self.failure("change the owner of", path) }
                changed = true
            }
            if info.st_mode & 0o7777 != mode {
                guard fchmod(fd, mode) == 0 else { throw Self.failure("change the mode of", path) }
                changed = true
            }
        }
        lines.append(Self.line(created ? "created" : changed ? "changed" : "ok", path))
    }

    private func withDescriptor(_ path: String, directory: Bool, _ body: (Int32, stat) throws -> Void) throws {
        let fd = open(path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC | (directory ? O_DIRECTORY : 0))
        guard fd >= 0 else {
            if errno == ELOOP { throw PopctlError("\(path) is a symbolic link; popgate's state is never reached through one: remove it") }
            throw Self.failure("open", path)
        }
        defer { close(fd) }
        var info = stat()
        guard fstat(fd, &info) == 0 else { throw Self.failure("read", path) }
        try body(fd, info)
    }

    private func reachable(_ info: stat, _ needs: Access) -> Bool {
        let bits: mode_t = needs == .read ? 0o5 : 0o1
        if info.st_uid == gateway.user { return info.st_mode >> 6 & bits == bits }
        if info.st_gid == gateway.group { return info.st_mode >> 3 & bits == bits }
        return info.st_mode & bits == bits
    }

    private static func failure(_ what: String, _ path: String) -> PopctlError {
        PopctlError("cannot \(what) \(path): \(String(cString: strerror(errno)))")
    }

    private static func line(_ state: String, _ path: String) -> String {
        state.padding(toLength: 8, withPad: " ", startingAt: 0) + path
    }
}
