import ArgumentParser
import Foundation
import PopConfig
import Receipts
import Registry
import Sodium
import WireGuard

#if canImport(Glibc)
import Glibc
#endif

struct NodeCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "node", abstract: "Prepare this node's own state: keys, registry and receipt log directory.",
        subcommands: [Init.self]
    )

    struct Init: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Make every key popgate.toml names, the registry and the receipt directory, with their owners.",
            discussion: """
                Keys are generated here, on the node, and never leave it; an existing key is kept. The WireGuard \
                key is root's alone; the receipt signing key and the cache-salt key belong to the gateway's user, \
                which popgated runs as; the SQLite registry is root's and readable by that user's group (popgated \
                reads it, never writes it). Prints one line per item: `created`, `changed` (owner or mode \
                corrected) or `ok`. Safe to run again. Run as root; bootstrap-pop.sh runs it.
                """
        )

        @OptionGroup var options: GlobalOptions
        @Option(name: .customLong("gateway-user"), help: "The user popgated runs as.") var gatewayUser = "popgate"

        func run() throws {
            guard geteuid() == 0 else { throw PopctlError("popctl node init sets owners: run it as root") }
            let configuration = try options.loadConfiguration()
            guard let account = getpwnam(gatewayUser) else {
                throw PopctlError("no user \(gatewayUser) on this node; create it (bootstrap-pop.sh does) or name another with --gateway-user")
            }
            let gateway = Owner(user: account.pointee.pw_uid, group: account.pointee.pw_gid)
            let root = Owner(user: 0, group: 0)
            var report = NodeReport()

            // The keys directory is traversable by the gateway's group: it holds the gateway's keys.
            let wireGuardKey = configuration.wireguard.privateKeyFile
            for directory in Set([wireGuardKey, configuration.receipts.signingKeyFile, configuration.gateway.cacheSaltKeyFile]
                .map { ($0 as NSString).deletingLastPathComponent }).sorted() {
                try report.directory(directory, owner: Owner(user: 0, group: gateway.group), mode: 0o750)
            }
            let existed = FileManager.default.fileExists(atPath: wireGuardKey)
            let publicKey = try KeyFile.loadOrCreate(wireGuardKey).publicKey
            try report.file(wireGuardKey, created: !existed, owner: root, mode: 0o600)

            for path in [configuration.receipts.signingKeyFile, configuration.gateway.cacheSaltKeyFile] {
                let existed = FileManager.default.fileExists(atPath: path)
                _ = try SecretKeyFile.loadOrCreate(path)
                try report.file(path, created: !existed, owner: gateway, mode: 0o600)
            }

            switch configuration.registry.location {
            case .sqlite(let path):
                let existed = FileManager.default.fileExists(atPath: path)
                try report.directory((path as NSString).deletingLastPathComponent, owner: Owner(user: 0, group: gateway.group), mode: 0o750)
                // Created (and migrated) only when missing: opening an existing database for writing
                // touches it, and a second `node init` must change nothing. popnetd migrates an older one.
                if !existed { _ = try RegistryStore(location: .sqlite(path: path)) }
                // The registry keeps its -wal and -shm files (persistent WAL), and popgated's read-only
                // connection needs all three readable; SQLite gives files it creates later the database's
                // owner and mode.
                for file in [path, path + "-wal", path + "-shm"] where FileManager.default.fileExists(atPath: file) {
                    try report.file(file, created: !existed, owner: Owner(user: 0, group: gateway.group), mode: 0o640)
                }
            case .postgres:
                // Each daemon writes its own copy there; sticky, so neither can replace the other's.
                try report.directory(
                    configuration.registry.localCopyDirectory, owner: Owner(user: 0, group: gateway.group), mode: 0o1770
                )
            }
            try report.directory(configuration.receipts.directory, owner: gateway, mode: 0o700)

            let seed = try SecretKeyFile.loadOrCreate(configuration.receipts.signingKeyFile)
            let verifier = try NoteSigner(name: configuration.receipts.origin, key: Ed25519PrivateKey(seed: seed)).verifier
            print(report.lines.joined(separator: "\n"))
            print("wireguard public key: \(publicKey)")
            print("receipts verifier key: \(verifier)")
        }
    }
}

/// A file's owner, by number.
struct Owner: Equatable {
    let user: uid_t
    let group: gid_t
}

/// What `node init` did to each path, in order; each step makes the path's owner and mode right.
struct NodeReport {
    private(set) var lines: [String] = []

    mutating func directory(_ path: String, owner: Owner, mode: mode_t) throws {
        var created = false
        if !FileManager.default.fileExists(atPath: path) {
            do {
                try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
            } catch {
                throw PopctlError("cannot create \(path): \(error.localizedDescription)")
            }
            created = true
        }
        try file(path, created: created, owner: owner, mode: mode)
    }

    mutating func file(_ path: String, created: Bool, owner: Owner, mode: mode_t) throws {
        var info = stat()
        guard stat(path, &info) == 0 else { throw PopctlError("cannot read \(path): \(String(cString: strerror(errno)))") }
        var changed = false
        if info.st_uid != owner.user || info.st_gid != owner.group {
            guard chown(path, owner.user, owner.group) == 0 else {
                throw PopctlError("cannot change the owner of \(path): \(String(cString: strerror(errno)))")
            }
            changed = true
        }
        if info.st_mode & 0o7777 != mode {
            guard chmod(path, mode) == 0 else {
                throw PopctlError("cannot change the mode of \(path): \(String(cString: strerror(errno)))")
            }
            changed = true
        }
        let state = created ? "created" : changed ? "changed" : "ok"
        lines.append("\(state.padding(toLength: 8, withPad: " ", startingAt: 0))\(path)")
    }
}
