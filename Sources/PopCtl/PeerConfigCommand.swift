import Addressing
import ArgumentParser
import Foundation
import PopConfig
import QRCode
import Registry
import Sodium
import WireGuard

#if canImport(Glibc)
import Glibc
#endif

extension PeerCommand {
    struct Config: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Print a registered peer's wg-quick configuration again, or show it as a QR code for a phone.",
            discussion: """
                The registry holds the peer's public key and preshared key but never its private key. With \
                --private-key-file (the device's own key, as `wg genkey` wrote it; its public key must be the one \
                registered for the peer) the config is complete; without it the PrivateKey line is left for the \
                device to fill in. --qr shows the complete config as a QR code on the terminal for the WireGuard \
                app on a phone to scan (Add tunnel, Create from QR code); it needs --private-key-file. The config \
                holds the preshared key: show or hand it over only to the device's owner.
                """
        )

        @OptionGroup var options: GlobalOptions
        @Argument(help: "The peer's name or base64 public key.") var peer: String
        @Option(help: ArgumentHelp(
            "The device's private key file (base64, as `wg genkey` writes it), for a complete config.",
            valueName: "file"
        ))
        var privateKeyFile: String?
        @Flag(help: "Show the config as a QR code on the terminal, for a phone's WireGuard app to scan.") var qr = false
        @Option(help: """
            Write the config to this new file (mode 0600) instead of standard output; with --qr the QR code is \
            still shown.
            """)
        var output: String?

        func validate() throws {
            // A phone has no other way to get the private key into a scanned config.
            if qr && privateKeyFile == nil {
                throw ValidationError(
                    "--qr needs --private-key-file: the registry never holds a peer's private key, and a phone "
                        + "cannot use a config without one. Pass the device's key file with --private-key-file, "
                        + "or issue the config with `popctl peer add --qr` when the peer is created."
                )
            }
        }

        func run() throws {
            let destination = try ClientConfigDestination(output: output)
            let clientKey = try privateKeyFile.map { path throws(PopctlError) in try Self.loadDeviceKey(path) }
            let context = try Context(options)
            let popKey = try KeyFile.load(context.configuration.wireguard.privateKeyFile).publicKey
            let registered = try Self.findPeer(peer, in: context.store)
            let issued = try clientKey.map { key throws(PopctlError) in
                try Self.peer(registered, ownedBy: key, keyFile: privateKeyFile ?? "")
            } ?? registered

            let text = ClientConfig.render(
                configuration: context.configuration, popKey: popKey, peer: issued, clientPrivateKey: clientKey,
                presharedKey: issued.presharedKey
            )
            if qr {
                let code = try Self.terminalQR(text)
                // The code replaces the text on standard output; a file named by --output still gets the text.
                if destination.path != nil { try destination.deliver(text) }
                print(code, terminator: "")
                if let warning = Self.widthWarning(for: code) {
                    FileHandle.standardError.write(Data("warning: \(warning)\n".utf8))
                }
            } else {
                try destination.deliver(text)
            }

            var notes: [String] = []
            if clientKey == nil {
                notes.append("without --private-key-file the PrivateKey line is left for the device to fill in")
            }
            if clientKey == nil, let rotation = registered.rotation {
                notes.append(
                    "a key rotation is pending: this config is for the current key; pass the new key's file "
                        + "(public key \(rotation.publicKey)) for the rotated config"
                )
            }
            FileHandle.standardError.write(Data(
                ("config of peer \(issued.name) of tenant \(issued.tenantName): address \(issued.address), "
                    + "public key \(issued.publicKey)\(destination.note)"
                    + notes.map { "; \($0)" }.joined() + "\n").utf8
            ))
        }

        /// The columns a terminal has unless it says otherwise.
        static let standardTerminalColumns = 80

        /// `config` as terminal text a phone's WireGuard app scans: a QR code in Unicode half blocks, light modules
        /// drawn (see ``QRCode/terminalText(colors:)``), pinned white on black with ANSI colours when `colors` is
        /// true. For `peer config --qr` and `peer add --qr`.
        ///
        /// Medium error correction when that code fits a standard 80-column terminal, else low: a code that
        /// wraps cannot be scanned at all, while a code on a screen is seldom damaged, so medium's margin is
        /// worth less than the width (a typical config is version 14 at medium, 81 columns, and 13 at low, 77).
        static func terminalQR(_ config: String, colors: Bool = isatty(STDOUT_FILENO) == 1) throws -> String {
            do {
                var code = try QRCode(encoding: config, correction: .medium)
                if code.size + 2 * QRCode.quietZone > standardTerminalColumns {
                    code = try QRCode(encoding: config, correction: .low)
                }
                return code.terminalText(colors: colors ? .ansi : .none)
            } catch {
                throw PopctlError("--qr: \(error.reason)")
            }
        }

        /// A warning when standard output is a terminal narrower than the code `text` draws, or nil.
        static func widthWarning(for text: String) -> String? {
            var size = winsize()
            guard isatty(STDOUT_FILENO) == 1, ioctl(STDOUT_FILENO, UInt(TIOCGWINSZ), &size) == 0, size.ws_col > 0,
                  // Glyphs only: the colour escapes take no columns.
                  let width = text.split(separator: "\n").first.map({ $0.filter(\.isQRGlyph).count }),
                  width > Int(size.ws_col)
            else { return nil }
            return "the QR code is \(width) columns wide but this terminal has \(size.ws_col): it wraps and cannot be "
                + "scanned; widen the window or make the font smaller, and run the command again"
        }

        /// The live peer with this name or public key; a revoked or expired one named so is refused,
        /// saying why it has no config.
        private static func findPeer(_ nameOrKey: String, in store: RegistryStore) throws -> Peer {
            let now = Date()
            let found = try store.peer(nameOrKey, at: now)
            guard !found.isLive(at: now) else { return found }
            let state = found.state == .active ? PeerState.expired : found.state
            throw PopctlError(
                "peer \(found.name) of tenant \(found.tenantName) is \(state.rawValue): a config for it would not "
                    + "connect; `popctl peer add` registers the device again"
            )
        }

        /// The peer as the device holding `key` uses it: the registered key, or the pending one of a rotation.
        private static func peer(_ peer: Peer, ownedBy key: Curve25519PrivateKey, keyFile: String) throws(PopctlError)
            -> Peer
        {
            let publicKey = key.publicKey
            if publicKey == peer.publicKey { return peer }
            if let rotation = peer.rotation, rotation.publicKey == publicKey { return peer.completingRotation() }
            let pending = peer.rotation.map { " (or \($0.publicKey), pending rotation)" } ?? ""
            throw PopctlError(
                "--private-key-file: the key in \(keyFile) has public key \(publicKey), but peer \(peer.name) is "
                    + "registered with public key \(peer.publicKey)\(pending); give the key file of the device that "
                    + "peer belongs to, or register this key with `popctl peer rotate \(peer.name) --public-key "
                    + "\(publicKey)`"
            )
        }

        /// Reads a device's private key file: one base64 key, as `wg genkey` writes it.
        private static func loadDeviceKey(_ path: String) throws(PopctlError) -> Curve25519PrivateKey {
            var bytes: [UInt8]
            do {
                bytes = [UInt8](try Data(contentsOf: URL(fileURLWithPath: path)))
            } catch {
                throw PopctlError("--private-key-file: cannot read \(path): \(error.localizedDescription)")
            }
            defer { for index in bytes.indices { bytes[index] = 0 } }
            do {
                return try Curve25519PrivateKey(base64: String(decoding: bytes, as: UTF8.self))
            } catch {
                throw PopctlError(
                    "--private-key-file: \(path) does not hold a WireGuard private key (\(error.reason)); it should "
                        + "hold one line of base64, as `wg genkey` writes it"
                )
            }
        }
    }
}

extension Character {
    /// A character the terminal QR code is drawn with: a full, upper or lower half block, or a blank.
    fileprivate var isQRGlyph: Bool { self == " " || self == "\u{2588}" || self == "\u{2580}" || self == "\u{2584}" }
}
