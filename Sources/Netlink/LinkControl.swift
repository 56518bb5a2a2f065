import Addressing

#if canImport(Glibc)
import Glibc
#endif

/// Creates, configures and deletes network links over rtnetlink (what `ip link` and
/// `ip address` do), with errors that name the interface.
public final class LinkControl: @unchecked Sendable {
    private let socket: NetlinkSocket

    /// Opens a NETLINK_ROUTE socket.
    public init() throws(NetlinkError) {
        socket = try NetlinkSocket(protocol: NetlinkConstants.protocolRoute)
    }

    /// The interface index of `name`, or nil when there is no such link.
    public static func index(of name: String) -> Int32? {
        let index = if_nametoindex(name)
        return index == 0 ? nil : Int32(bitPattern: index)
    }

    /// Creates a link of `kind` unless one named `name` exists.
    public func ensureLink(name: String, kind: String) throws(NetlinkError) {
        guard Self.index(of: name) == nil else { return }
        let sequence = socket.allocateSequence()
        _ = try socket.exchange(
            RouteMessages.createLink(name: name, kind: kind, sequence: sequence), sequence: sequence,
            operation: "creating link \(name) of kind \(kind)"
        )
    }

    /// Deletes the link named `name`.
    public func deleteLink(name: String) throws(NetlinkError) {
        let sequence = socket.allocateSequence()
        _ = try socket.exchange(
            RouteMessages.deleteLink(name: name, sequence: sequence), sequence: sequence, operation: "deleting link \(name)"
        )
    }

    /// Puts `address` on `name`, sets its MTU and brings it up.
    public func configure(name: String, address: IPPrefix, mtu: Int) throws(NetlinkError) {
        guard let index = Self.index(of: name) else {
            throw NetlinkError(operation: "configuring \(name)", errno: ENODEV, kernelMessage: nil, attributeOffset: nil, sequence: nil, detail: nil)
        }
        var sequence = socket.allocateSequence()
        _ = try socket.exchange(
            RouteMessages.addAddress(address, index: index, sequence: sequence), sequence: sequence,
            operation: "adding address \(address) to \(name)"
        )
        sequence = socket.allocateSequence()
        _ = try socket.exchange(
            RouteMessages.setUp(index: index, mtu: mtu, sequence: sequence), sequence: sequence,
            operation: "setting MTU \(mtu) and up on \(name)"
        )
    }
}
