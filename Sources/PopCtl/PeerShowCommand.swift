import Addressing
import ArgumentParser
import Foundation
import PopConfig
import Registry
import Sodium

extension PeerCommand {
    struct Show: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Show one peer: the registry's record and its live WireGuard status from popnetd.",
            discussion: """
                NAME is the peer's name or base64 public key. A revoked or expired peer is shown too (the \
                most recent one of that name), so the reason a device stopped working is one command away.
                """
        )

        @OptionGroup var options: GlobalOptions
        @Argument(help: "The peer's name or base64 public key.") var peer: String
        @Flag(help: "Print JSON (the same object as one row of `peer list --json`).") var json = false

        func run() throws {
            let context = try Context(options)
            let now = Date()
            let found = try context.store.peer(peer, at: now)
            let live = found.isLive(at: now) ? List.liveStatus(context.configuration.netd.statusSocketPath) : nil
            let listing = PeerListing(peer: found, device: live?[found.publicKey.base64])
            print(try Self.render(listing, json: json, now: now), terminator: "")
        }

        static func render(_ listing: PeerListing, json: Bool, now: Date) throws -> String {
            if json { return try JSONOutput.render(listing) + "\n" }
            let peer = listing.peer
            var rows = [
                ["name", peer.name],
                ["tenant", peer.tenantName],
                ["state", List.displayState(peer)],
                ["address", peer.address.description],
                ["public key", peer.publicKey.base64],
                ["preshared key", peer.presharedKey == nil ? "none" : "yes (not shown)"],
                ["created", JSONOutput.timestamp(peer.createdAt)],
                ["expires", peer.expiresAt.map(JSONOutput.timestamp) ?? "never"],
            ]
            if let rotation = peer.rotation {
                rows.append(["rotating to", rotation.publicKey.base64])
                rows.append(["rotation deadline", JSONOutput.timestamp(rotation.deadline)])
            }
            if peer.isLive(at: now) {
                let device = listing.device
                let handshake = device.map { $0.lastHandshake.map { HumanUnits.ago($0, now: now) } ?? "never" }
                rows += [
                    ["last handshake", handshake ?? "-"],
                    ["endpoint", device.map { $0.endpoint ?? "-" } ?? "-"],
                    ["received", device.map { HumanUnits.bytes($0.rxBytes) } ?? "-"],
                    ["sent", device.map { HumanUnits.bytes($0.txBytes) } ?? "-"],
                ]
            }
            return TextRecord(rows: rows).render()
        }
    }
}
