import WireGuard

/// wireguard-go's UAPI replies as popnetd reads them (``UAPIProtocol``): a `get=1` dump and a
/// `set=1` answer are a device status or an error, never a crash, whatever the daemon sends.
enum UAPIReplyTarget {
    static let target = FuzzTarget(
        name: "uapi-reply", summary: "wireguard-go UAPI get/set replies, as popnetd's userspace backend reads them",
        run: run
    )

    static func run(_ data: UnsafeRawBufferPointer) {
        let text = String(decoding: data, as: UTF8.self)
        if let device = try? UAPIProtocol.parseGetResponse(text, interface: "wg-fuzz") {
            for peer in device.peers {
                FuzzCheck.require(peer.persistentKeepalive.map { $0 > 0 } ?? true, "a keepalive of 0 was kept")
            }
        }
        _ = try? UAPIProtocol.checkSetResponse(text, interface: "wg-fuzz")
    }
}
