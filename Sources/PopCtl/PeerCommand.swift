import Addressing
import ArgumentParser
import Foundation
import PopConfig
import Registry
import Sodium
import WireGuard

struct PeerCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "peer", abstract: "Manage WireGuard peers (client devices).",
        subcommands: [Add.self, Import.self, List.self, Show.self, Config.self, Rotate.self, Revoke.self]
    )

    struct Add: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Register a client device and print its wg-quick configuration.",
            discussion: """
                Allocates the next free tunnel address, generates the client's key pair unless --public-key is \
                given, and prints a complete wg-quick config (or writes it with mode 0600 to --output). The \
                config holds the client's private key: hand it over securely; it is not stored on the PoP. \
                With --expires the peer stops working at that time: popnetd removes it from WireGuard, the \
                gateway refuses it, and its address returns to the pool.
                """
        )

        @OptionGroup var options: GlobalOptions
        @Option(help: "The tenant the device belongs to.") var tenant: String
        @Option(help: "A label for the device (default: peer-<n>).") var name: String?
        @Option(help: """
            The client's own public key (base64, from `wg pubkey`); its private key never leaves the client.
            """)
        var publicKey: String?
        @Option(help: ArgumentHelp(
            "A file holding the client's preshared key (wg genpsk), or - for standard input. Default: a fresh "
                + "one when wireguard.preshared_keys is on.",
            valueName: "file"
        ))
        var psk: String?
        @Option(help: ArgumentHelp(
            "The tunnel address to give the device: a free client address of wireguard.pool. Default: the "
                + "lowest free one.",
            valueName: "address"
        ))
        var address: String?
        @Option(help: "Write the config to this new file (mode 0600) instead of standard output.") var output: String?
        @Flag(help: "Show the config as a QR code on the terminal, for a phone's WireGuard app to scan.") var qr = false
        @Option(help: ArgumentHelp(
            "When the peer stops working: a duration (30d, 12h, 90m, 45s) or an ISO 8601 date or time "
                + "(2026-03-31, 2026-03-31T18:00:00Z). Default: never.",
            valueName: "duration|date"
        ))
        var expires: String?

        func run() throws {
            // Everything that can fail is checked before the registry changes.
            let suppliedKey = try parseClientKey(publicKey)
            if qr && suppliedKey != nil {
                throw PopctlError(
                    "--qr with --public-key: the device keeps its private key, so a config the PoP prints cannot "
                        + "hold it and a phone could not use the code; leave --public-key out to have popctl make the pair"
                )
            }
            let suppliedPSK = try readPresharedKey(psk)
            let requestedAddress = try address.map { text throws(PopctlError) in
                guard let parsed = IPAddress(text) else {
                    throw PopctlError("--address: \"\(text)\" is not an IP address; write one like 10.77.0.42")
                }
                return parsed
            }
            let now = Date()
            let expiresAt = try expires.map { text throws(PopctlError) in
                try DurationText.instant(text, option: "--expires", now: now)
            }
            let destination = try ClientConfigDestination(output: output)
            let context = try Context(options)
            let settings = context.configuration.wireguard
            let popKey = try KeyFile.load(settings.privateKeyFile).publicKey
            let keys = IssuedClientKeys(
                supplied: suppliedKey, presharedKeys: settings.presharedKeys, suppliedPresharedKey: suppliedPSK
            )
            let (clientPrivate, clientPublic, psk) = (keys.privateKey, keys.publicKey, keys.presharedKey)
            let label = try name ?? nextDefaultName(context)

            let peer = try context.store.addPeer(
                tenant: tenant, name: label, publicKey: clientPublic, presharedKey: psk, pool: settings.pool,
                reserved: [settings.address.address], address: requestedAddress, expiresAt: expiresAt, now: now
            )
            let text = ClientConfig.render(
                configuration: context.configuration, popKey: popKey, peer: peer, clientPrivateKey: clientPrivate,
                presharedKey: psk
            )
            do {
                if qr {
                    // The code replaces the text on standard output; a file named by --output still gets the text.
                    let code = try PeerCommand.Config.terminalQR(text)
                    if destination.path != nil { try destination.deliver(text) }
                    print(code, terminator: "")
                } else {
                    try destination.deliver(text)
                }
            } catch {
                // Without its config the new peer is useless: take it back out.
                _ = try? context.store.revokePeer(peer.publicKey.base64)
                throw error
            }
            let expiry = expiresAt.map { ", expires \(JSONOutput.timestamp($0))" } ?? ""
            FileHandle.standardError.write(Data(
                ("added peer \(peer.name) of tenant \(peer.tenantName): address \(peer.address), "
                    + "public key \(peer.publicKey)\(expiry)\(destination.note)\n").utf8
            ))
        }

        private func nextDefaultName(_ context: Context) throws -> String {
            let used = Set(try context.store.peers().map(\.name))
            var index = used.count + 1
            while used.contains("peer-\(index)") { index += 1 }
            return "peer-\(index)"
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
