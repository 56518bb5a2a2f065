import Addressing
import Foundation
import PopConfig
import Registry
import Sodium
import WireGuard

/// The wg-quick config a client imports, as `peer add` and `peer rotate` issue it.
enum ClientConfig {
    /// The complete config text. Holds the client's private key (when popctl generated it) and the
    /// preshared key: shown once, never stored on the PoP.
    static func render(
        configuration: PopConfiguration, popKey: Curve25519PublicKey, peer: Peer,
        clientPrivateKey: Curve25519PrivateKey?, presharedKey: WireGuardPresharedKey?
    ) -> String {
        let settings = configuration.wireguard
        let popAddress = settings.address.address
        let config = WGQuickConfig(
            interface: .init(
                privateKey: clientPrivateKey,
                addresses: [IPPrefix(address: peer.address, length: peer.address.bitWidth)!], mtu: settings.mtu
            ),
            peers: [
                .init(
                    publicKey: popKey, presharedKeyBase64: presharedKey?.base64Secret(), endpoint: settings.endpoint,
                    allowedIPs: [IPPrefix(address: popAddress, length: popAddress.bitWidth)!],
                    persistentKeepalive: settings.persistentKeepalive == 0 ? nil : settings.persistentKeepalive
                ),
            ]
        )
        return config.render(
            comment: "popgate \(configuration.popName): peer \(peer.name) of tenant \(peer.tenantName)"
        )
    }
}

/// Where a client config goes: standard output, or a new file with mode 0600.
struct ClientConfigDestination {
    let path: String?

    /// Checks `--output` before anything changes: it must not exist, and its directory must be writable.
    init(output path: String?) throws(PopctlError) {
        if let path {
            let directory = (path as NSString).deletingLastPathComponent
            guard !FileManager.default.fileExists(atPath: path) else {
                throw PopctlError(
                    "--output: \(path) already exists; choose a new file (existing configs are never overwritten)"
                )
            }
            guard FileManager.default.isWritableFile(atPath: directory.isEmpty ? "." : directory) else {
                throw PopctlError("--output: the directory of \(path) does not exist or is not writable")
            }
        }
        self.path = path
    }

    /// Writes or prints `text`; only writing a file can fail.
    func deliver(_ text: String) throws {
        if let path {
            try SecretFile.create(path, contents: text)
        } else {
            print(text, terminator: "")
        }
    }

    /// ", config written to PATH" for the confirmation line, or nothing.
    var note: String { path.map { ", config written to \($0)" } ?? "" }
}

/// Parses `--public-key`, the client's own key.
func parseClientKey(_ text: String?) throws(PopctlError) -> Curve25519PublicKey? {
    do {
        return try text.map { text throws(SodiumError) in try Curve25519PublicKey(base64: text) }
    } catch {
        throw PopctlError("--public-key: \(error.reason)")
    }
}

/// The keys a new client config carries: the client's own public key when it gave one (its
/// private key then never leaves it), else a fresh pair; and a fresh preshared key when the PoP
/// uses them. What `peer add` and `peer rotate` both issue.
struct IssuedClientKeys {
    let privateKey: Curve25519PrivateKey?
    let publicKey: Curve25519PublicKey
    let presharedKey: WireGuardPresharedKey?

    /// `suppliedPresharedKey`, when the client already has one, is used whatever the PoP's default.
    init(supplied: Curve25519PublicKey?, presharedKeys: Bool, suppliedPresharedKey: WireGuardPresharedKey? = nil) {
        privateKey = supplied == nil ? Curve25519PrivateKey() : nil
        publicKey = supplied ?? privateKey!.publicKey
        presharedKey = suppliedPresharedKey ?? (presharedKeys ? WireGuardPresharedKey() : nil)
    }
}

/// The preshared key in `--psk FILE` (or `-` for standard input), as `wg genpsk` writes it. A file,
/// not the key itself: a key on a command line stays in shell history and shows in `ps`.
func readPresharedKey(_ source: String?) throws(PopctlError) -> WireGuardPresharedKey? {
    guard let source else { return nil }
    let text: String
    if source == "-" {
        text = String(decoding: FileHandle.standardInput.readDataToEndOfFile(), as: UTF8.self)
    } else {
        guard let contents = try? String(contentsOfFile: source, encoding: .utf8) else {
            throw PopctlError("--psk: cannot read \(source); give a file holding the key (wg genpsk > FILE) or - for stdin")
        }
        text = contents
    }
    do {
        return try WireGuardPresharedKey(base64: text.trimmingCharacters(in: .whitespacesAndNewlines))
    } catch {
        throw PopctlError("--psk: \(source) does not hold a WireGuard preshared key (\(error)); make one with wg genpsk")
    }
}
