import Addressing
import ArgumentParser
import Foundation
import PopConfig
import Registry
import Sodium

extension PeerCommand {
    struct List: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "List peers, with live WireGuard status from popnetd when it is reachable.",
            discussion: """
                LAST HANDSHAKE, ENDPOINT, RX and TX come from popnetd's status socket (root-only) and are as \
                fresh as its last reconcile (every netd.reconcile_interval_s). When popnetd cannot be asked, \
                they show "-" (null in JSON) and a note on standard error says why.
                """
        )

        @OptionGroup var options: GlobalOptions
        @Flag(help: "Print JSON.") var json = false
        @Flag(help: "Include revoked and expired peers.") var all = false

        func run() throws {
            let context = try Context(options)
            let now = Date()
            let peers = try context.store.peers(includingInactive: all, at: now)
            let live = Self.liveStatus(context.configuration.netd.statusSocketPath)
            let listings = peers.map { PeerListing(peer: $0, device: live?[$0.publicKey.base64]) }
            print(try Self.render(listings, json: json, now: now), terminator: "")
        }

        /// The listing as printed: a table, or JSON with a final newline.
        static func render(_ listings: [PeerListing], json: Bool, now: Date) throws -> String {
            if json { return try JSONOutput.render(listings) + "\n" }
            let rows = listings.map { listing in
                let peer = listing.peer
                let device = listing.device
                return [
                    peer.name, peer.tenantName, peer.address.description, displayState(peer), peer.publicKey.base64,
                    peer.expiresAt.map(JSONOutput.timestamp) ?? "-", JSONOutput.timestamp(peer.createdAt),
                    device.map { $0.lastHandshake.map { HumanUnits.ago($0, now: now) } ?? "never" } ?? "-",
                    device.map { $0.endpoint ?? "-" } ?? "-", device.map { HumanUnits.bytes($0.rxBytes) } ?? "-",
                    device.map { HumanUnits.bytes($0.txBytes) } ?? "-",
                ]
            }
            let header = [
                "NAME", "TENANT", "ADDRESS", "STATE", "PUBLIC KEY", "EXPIRES", "CREATED", "LAST HANDSHAKE", "ENDPOINT",
                "RX", "TX",
            ]
            return TextTable(header: header, rows: rows).render()
        }

        /// The device's peers by public key, or nil (with a note on standard error) when popnetd
        /// cannot be asked: the listing still works without it.
        static func liveStatus(_ path: String) -> [String: PopnetdStatus.Peer]? {
            do {
                let status = try PopnetdStatus.decode(try StatusSocketClient.fetch(path), from: path)
                return Dictionary(status.peers.map { ($0.publicKey, $0) }, uniquingKeysWith: { first, _ in first })
            } catch {
                FileHandle.standardError.write(Data(
                    ("note: popnetd is not reachable, so LAST HANDSHAKE, ENDPOINT, RX and TX are unknown: "
                        + "\(error)\n").utf8
                ))
                return nil
            }
        }

        static func displayState(_ peer: Peer) -> String {
            peer.state == .active && peer.rotation != nil ? "rotating" : peer.state.rawValue
        }
    }
}

/// One row of `peer list --json`: the registry's peer and what the device says about its key.
struct PeerListing: Encodable {
    let peer: Peer
    let device: PopnetdStatus.Peer?

    enum LiveKeys: String, CodingKey {
        case lastHandshake = "last_handshake", endpoint, rxBytes = "rx_bytes", txBytes = "tx_bytes"
    }

    func encode(to encoder: any Encoder) throws {
        try peer.encode(to: encoder)
        // Null when unknown (popnetd unreachable, or the key not on the device), never left out.
        var c = encoder.container(keyedBy: LiveKeys.self)
        try c.encode(device?.lastHandshake, forKey: .lastHandshake)
        try c.encode(device?.endpoint, forKey: .endpoint)
        try c.encode(device?.rxBytes, forKey: .rxBytes)
        try c.encode(device?.txBytes, forKey: .txBytes)
    }
}
