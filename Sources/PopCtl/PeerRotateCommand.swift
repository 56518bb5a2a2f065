import ArgumentParser
import Foundation
import PopConfig
import Registry
import Sodium
import WireGuard

extension PeerCommand {
    struct Rotate: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Issue a new key pair for a peer and print its new wg-quick configuration.",
            discussion: """
                The peer keeps its name, tenant and tunnel address. Its current key goes on working until the \
                new config first connects (popnetd then moves the address to the new key and removes the old \
                one) or until the grace period ends, whichever is first. A second rotate while one is pending \
                replaces the pending key. The config is printed, or written with mode 0600 to --output, exactly \
                as `peer add` does; it is not stored on the PoP.
                """
        )

        @OptionGroup var options: GlobalOptions
        @Argument(help: "The peer's name or current base64 public key.") var peer: String
        @Option(help: """
            The client's own new public key (base64, from `wg pubkey`); its private key never leaves the client.
            """)
        var publicKey: String?
        @Option(help: "Write the config to this new file (mode 0600) instead of standard output.") var output: String?
        @Option(help: ArgumentHelp(
            "How long the old key may go on working if the new config never connects (30d, 12h, 90m, 45s).",
            valueName: "duration"
        ))
        var grace = "24h"

        func run() throws {
            // Everything that can fail is checked before the registry changes.
            let suppliedKey = try parseClientKey(publicKey)
            let graceSeconds = try DurationText.seconds(grace, option: "--grace")
            let destination = try ClientConfigDestination(output: output)
            let context = try Context(options)
            let settings = context.configuration.wireguard
            let popKey = try KeyFile.load(settings.privateKeyFile).publicKey
            let keys = IssuedClientKeys(supplied: suppliedKey, presharedKeys: settings.presharedKeys)
            let (clientPrivate, clientPublic, psk) = (keys.privateKey, keys.publicKey, keys.presharedKey)

            let (rotating, replaced) = try context.store.beginRotation(
                peer, publicKey: clientPublic, presharedKey: psk, grace: graceSeconds
            )
            let text = ClientConfig.render(
                configuration: context.configuration, popKey: popKey, peer: rotating, clientPrivateKey: clientPrivate,
                presharedKey: psk
            )
            do {
                try destination.deliver(text)
            } catch {
                // Nobody can use a key whose config was lost: withdraw it; the current key is untouched.
                _ = try? context.store.cancelRotation(peerID: rotating.id, pendingKey: clientPublic)
                let lost = replaced.map { " The key it replaced (\($0.publicKey)) was withdrawn too." } ?? ""
                throw PopctlError(
                    "\(error); the rotation was withdrawn and peer \(rotating.name) keeps its current key.\(lost) "
                        + "Run rotate again."
                )
            }
            let deadline = rotating.rotation.map { JSONOutput.timestamp($0.deadline) } ?? "-"
            let replacedNote = replaced.map { "; replaced the pending key \($0.publicKey), which no longer works" }
            FileHandle.standardError.write(Data(
                ("rotating peer \(rotating.name) of tenant \(rotating.tenantName): new public key \(clientPublic), "
                    + "address \(rotating.address) kept; the current key works until the new config first connects, "
                    + "at the latest until \(deadline)\(replacedNote ?? "")\(destination.note)\n").utf8
            ))
        }
    }
}
