import Addressing
import ArgumentParser
import Foundation
import PopConfig
import Registry
import Sodium
import WireGuard

struct PeerCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "peer", abstract: "Manage WireGuard peers (client devices).", subcommands: [Add.self, List.self, Revoke.self]
    )

    struct Add: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Register a client device and print its wg-quick configuration.",
            discussion: """
                Allocates the next free tunnel address, generates the client's key pair unless --public-key is \
                given, and prints a complete wg-quick config (or writes it with mode 0600 to --output). The \
                config holds the client's private key: hand it over securely; it is not stored on the PoP.
                """
        )

        @OptionGroup var options: GlobalOptions
        @Option(help: "The tenant the device belongs to.") var tenant: String
        @Option(help: "A label for the device (default: peer-<address>).") var name: String?
        @Option(help: "The client's own public key (base64, from `wg pubkey`); its private key never leaves the client.")
        var publicKey: String?
        @Option(help: "Write the config to this new file (mode 0600) instead of standard output.") var output: String?

        func run() throws {
            // Everything that can fail is checked before the registry changes.
            let suppliedKey: Curve25519PublicKey?
            do { suppliedKey = try publicKey.map { text throws(SodiumError) in try Curve25519PublicKey(base64: text) } } catch {
                throw PopctlError("--public-key: \(error.reason)")
            }
            if let output {
                let directory = (output as NSString).deletingLastPathComponent
                guard !FileManager.default.fileExists(atPath: output) else {
                    throw PopctlError("--output: \(output) already exists; choose a new file (existing configs are never overwritten)")
                }
                guard FileManager.default.isWritableFile(atPath: directory.isEmpty ? "." : directory) else {
                    throw PopctlError("--output: the directory of \(output) does not exist or is not writable")
                }
            }
            let context = try Context(options)
            let settings = context.configuration.wireguard
            let popKey = try KeyFile.load(settings.privateKeyFile).publicKey
            let clientPrivate: Curve25519PrivateKey? = suppliedKey == nil ? Curve25519PrivateKey() : nil
            let clientPublic = suppliedKey ?? clientPrivate!.publicKey
            let psk = settings.presharedKeys ? WireGuardPresharedKey() : nil
            let label = try name ?? nextDefaultName(context)

            let peer = try context.store.addPeer(
                tenant: tenant, name: label, publicKey: clientPublic, presharedKey: psk, pool: settings.pool,
                reserved: [settings.address.address]
            )
            let config = WGQuickConfig(
                interface: .init(
                    privateKey: clientPrivate, addresses: [IPPrefix(address: peer.address, length: peer.address.bitWidth)!],
                    mtu: settings.mtu
                ),
                peers: [
                    .init(
                        publicKey: popKey, presharedKeyBase64: psk?.base64Secret(), endpoint: settings.endpoint,
                        allowedIPs: [IPPrefix(address: settings.address.address, length: settings.address.address.bitWidth)!],
                        persistentKeepalive: settings.persistentKeepalive == 0 ? nil : settings.persistentKeepalive
                    ),
                ]
            )
            let text = config.render(
                comment: "popgate \(context.configuration.popName): peer \(peer.name) of tenant \(peer.tenantName)"
            )
            if let output {
                do {
                    try SecretFile.create(output, contents: text)
                } catch {
                    // Without its config the new peer is useless: take it back out.
                    try? context.store.revokePeer(peer.publicKey.base64)
                    throw error
                }
            } else {
                print(text, terminator: "")
            }
            FileHandle.standardError.write(Data(
                "added peer \(peer.name) of tenant \(peer.tenantName): address \(peer.address), public key \(peer.publicKey)\(output.map { ", config written to \($0)" } ?? "")\n".utf8
            ))
        }

        private func nextDefaultName(_ context: Context) throws -> String {
            let used = Set(try context.store.peers().map(\.name))
            var index = used.count + 1
            while used.contains("peer-\(index)") { index += 1 }
            return "peer-\(index)"
        }
    }

    struct List: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "List peers.")

        @OptionGroup var options: GlobalOptions
        @Flag(help: "Print JSON.") var json = false
        @Flag(help: "Include revoked peers.") var all = false

        func run() throws {
            let peers = try Context(options).store.peers(includeRevoked: all)
            if json {
                print(try JSONOutput.render(peers))
                return
            }
            let rows = peers.map { [$0.name, $0.tenantName, $0.address.description, $0.state.rawValue, $0.publicKey.base64, JSONOutput.timestamp($0.createdAt)] }
            print(TextTable(header: ["NAME", "TENANT", "ADDRESS", "STATE", "PUBLIC KEY", "CREATED"], rows: rows).render(), terminator: "")
        }
    }

    struct Revoke: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Revoke a peer: popnetd removes it from WireGuard and the gateway refuses it within a second."
        )

        @OptionGroup var options: GlobalOptions
        @Argument(help: "The peer's name or base64 public key.") var peer: String

        func run() throws {
            let revoked = try Context(options).store.revokePeer(peer)
            print("revoked peer \(revoked.name) of tenant \(revoked.tenantName) (address \(revoked.address))")
        }
    }
}
