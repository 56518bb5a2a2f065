import ArgumentParser
import Foundation
import PopConfig
import Receipts
import Registry
import RegistryLocations
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
                reads it, never writes it). Directories this command creates get their owner and mode; one that \
                exists already is only checked (popgated must be able to reach what it reads). Prints one line \
                per item: `created`, `changed` (owner or mode corrected) or `ok`. Safe to run again. Run as \
                root; bootstrap-pop.sh and popgate-node-init.service run it.
                """
        )

        @OptionGroup var options: GlobalOptions
        @Option(name: .customLong("gateway-user"), help: "The user popgated runs as.") var gatewayUser = "popgate"
        @Flag(
            inversion: .prefixedNo,
            help: "Make missing keys (--no-keys for an image: each node then makes its own at first boot)."
        )
        var keys = true

        func run() throws {
            guard geteuid() == 0 else { throw PopctlError("popctl node init sets owners: run it as root") }
            let configuration = try options.loadConfiguration()
            guard let account = getpwnam(gatewayUser) else {
                throw PopctlError("no user \(gatewayUser) on this node; create it (bootstrap-pop.sh does) or name another with --gateway-user")
            }
            let gateway = Owner(user: account.pointee.pw_uid, group: account.pointee.pw_gid)
            let root = Owner(user: 0, group: 0)
            let rootAndGateway = Owner(user: 0, group: gateway.group)
            var report = NodeReport(gateway: gateway)

            let wireGuardKey = configuration.wireguard.privateKeyFile
            let gatewayKeys = [configuration.receipts.signingKeyFile, configuration.gateway.cacheSaltKeyFile]
            let keyDirectories = Set(([wireGuardKey] + gatewayKeys).map(Self.parent)).sorted()
            for directory in keyDirectories {
                // popgated must reach its own keys; a directory holding only the WireGuard key is root's.
                let holdsGatewayKeys = gatewayKeys.map(Self.parent).contains(directory)
                try report.directory(
                    directory, owner: holdsGatewayKeys ? rootAndGateway : root, mode: holdsGatewayKeys ? 0o750 : 0o700,
                    gatewayNeeds: holdsGatewayKeys ? .traverse : nil
                )
            }
            // What the operator hands out: the PoP's WireGuard public key and the receipt log's verifier key.
            var publicKeys: (wireGuard: String, verifier: String)?
            if keys {
                let existed = FileManager.default.fileExists(atPath: wireGuardKey)
                let wireGuardPublic = try KeyFile.loadOrCreate(wireGuardKey).publicKey.base64
                try report.file(wireGuardKey, created: !existed, owner: root, mode: 0o600)
                var signingSeed: SecretBytes?
                for path in gatewayKeys {
                    let existed = FileManager.default.fileExists(atPath: path)
                    let secret = try SecretKeyFile.loadOrCreate(path)
                    if path == configuration.receipts.signingKeyFile { signingSeed = secret }
                    try report.file(path, created: !existed, owner: gateway, mode: 0o600)
                }
                if let signingSeed {
                    let signer = try NoteSigner(name: configuration.receipts.origin, key: Ed25519PrivateKey(seed: signingSeed))
                    publicKeys = (wireGuardPublic, "\(signer.verifier)")
                }
            } else {
                // An image: the keys are made on each node at first boot (popgate-node-init.service).
                for path in [wireGuardKey] + gatewayKeys where FileManager.default.fileExists(atPath: path) {
                    throw PopctlError("\(path) exists, but --no-keys is for a tree whose nodes make their own keys; remove it")
                }
            }

            switch configuration.registry.location {
            case .sqlite(let path):
                try report.directory(Self.parent(path), owner: rootAndGateway, mode: 0o750, gatewayNeeds: .read)
                let files = [path, path + "-wal", path + "-shm"]
                let created = !FileManager.default.fileExists(atPath: path)
                // Opened only when something is missing: opening a database for writing touches it, and
                // a second `node init` must change nothing. The registry keeps its -wal and -shm files
                // (persistent WAL), and popgated's read-only connection needs all three readable; files
                // SQLite makes later take the database's owner and mode. popnetd migrates an older schema.
                if !files.allSatisfy(FileManager.default.fileExists(atPath:)) {
                    _ = try RegistryStore(location: .sqlite(path: path))
                }
                for file in files {
                    try report.file(file, created: created, owner: rootAndGateway, mode: 0o640)
                }
            case .postgres:
                // Each daemon's copy of the fleet registry in a directory of its own: neither can touch the other's.
                let directory = configuration.registry.localCopyDirectory
                try report.directory(directory, owner: rootAndGateway, mode: 0o750, gatewayNeeds: .traverse)
                for (daemon, owner) in [("popnetd", root), ("popgated", gateway)] {
                    try report.directory(
                        configuration.registry.localCopyPath(for: daemon).map(Self.parent) ?? directory,
                        owner: owner, mode: 0o700, enforce: true
                    )
                }
            }
            try report.directory(configuration.receipts.directory, owner: gateway, mode: 0o700, enforce: true)

            print(report.lines.joined(separator: "\n"))
            if let publicKeys {
                print("wireguard public key: \(publicKeys.wireGuard)")
                print("receipts verifier key: \(publicKeys.verifier)")
            }
        }

        static func parent(_ path: String) -> String { (path as NSString).deletingLastPathComponent }
    }
}
