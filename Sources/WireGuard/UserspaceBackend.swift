/// wireguard-go, configured through its UAPI socket (`<directory>/<interface>.sock`).
public struct UserspaceBackend: WireGuardBackend {
    public let kind = "userspace"
    public let interface: String
    /// The UAPI socket's path.
    public let socketPath: String

    /// A backend for `interface`, whose socket is in `socketDirectory` (wireguard-go's default
    /// is /var/run/wireguard).
    public init(interface: String, socketDirectory: String = "/var/run/wireguard") {
        self.interface = interface
        socketPath = "\(socketDirectory)/\(interface).sock"
    }

    public func status() throws(WireGuardError) -> DeviceStatus {
        let socket = try UnixStreamSocket(connectingTo: socketPath)
        try socket.writeAll(UAPIProtocol.getRequest)
        return try UAPIProtocol.parseGetResponse(try socket.readReply(), interface: interface)
    }

    public func apply(_ change: DeviceChange) throws(WireGuardError) {
        guard !change.isEmpty else { return }
        if let conflict = AllowedIPConflicts.first(in: change.upsertPeers) {
            throw WireGuardError("refusing to configure \(interface): \(conflict); nothing was applied")
        }
        let socket = try UnixStreamSocket(connectingTo: socketPath)
        try socket.writeAll(try UAPIProtocol.setRequest(change))
        try UAPIProtocol.checkSetResponse(try socket.readReply(), interface: interface)
    }
}
