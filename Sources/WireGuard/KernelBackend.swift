import Foundation
import Netlink

/// The kernel's WireGuard module, configured over generic netlink.
public final class KernelBackend: WireGuardBackend, @unchecked Sendable {
    public let kind = "kernel"
    public let interface: String
    private let socket: NetlinkSocket
    private let familyID: UInt16
    private let maxMessageBytes: Int
    // The socket is not thread-safe; reconciles are serialised through this lock.
    private let lock = NSLock()

    /// Resolves the `wireguard` generic netlink family; throws when the module is not loaded.
    public init(interface: String, maxMessageBytes: Int = KernelWireGuardProtocol.defaultMaxMessageBytes) throws(WireGuardError) {
        self.interface = interface
        self.maxMessageBytes = max(512, maxMessageBytes)
        do {
            socket = try NetlinkSocket(protocol: NetlinkConstants.protocolGeneric)
            guard let id = try Self.resolveFamily(socket) else {
                throw WireGuardError("the kernel has no \"wireguard\" generic netlink family")
            }
            familyID = id
        } catch let error as NetlinkError {
            throw WireGuardError(
                "the kernel WireGuard module is not available (\(error)); load it with `modprobe wireguard` or use backend = \"userspace\"",
                errno: error.errno
            )
        } catch let error as WireGuardError {
            throw error
        } catch {
            throw WireGuardError("\(error)")
        }
    }

    /// True when the running kernel offers the `wireguard` family.
    public static func isAvailable() -> Bool {
        guard let socket = try? NetlinkSocket(protocol: NetlinkConstants.protocolGeneric) else { return false }
        return ((try? resolveFamily(socket)) ?? nil) != nil
    }

    private static func resolveFamily(_ socket: NetlinkSocket) throws(NetlinkError) -> UInt16? {
        let sequence = socket.allocateSequence()
        do {
            let replies = try socket.exchange(
                GenericFamily.resolveRequest(name: "wireguard", sequence: sequence), sequence: sequence,
                operation: "resolving the wireguard generic netlink family"
            )
            for reply in replies { if let id = try GenericFamily.familyID(in: reply) { return id } }
            return nil
        } catch where error.errno == 2 {
            return nil  // ENOENT: no such family
        }
    }

    public func status() throws(WireGuardError) -> DeviceStatus {
        lock.lock()
        defer { lock.unlock() }
        do {
            let messages = try socket.dump(operation: "WG_CMD_GET_DEVICE on \(interface)") { sequence in
                KernelWireGuardProtocol.getDeviceRequest(familyID: familyID, interface: interface, sequence: sequence)
            }
            return try KernelWireGuardProtocol.parseDevice(messages)
        } catch {
            throw WireGuardError("\(error)", errno: error.errno)
        }
    }

    public func apply(_ change: DeviceChange) throws(WireGuardError) {
        guard !change.isEmpty else { return }
        if let conflict = AllowedIPConflicts.first(in: change.upsertPeers) {
            throw WireGuardError("refusing to configure \(interface): \(conflict); nothing was applied")
        }
        lock.lock()
        defer { lock.unlock() }
        let requests = try KernelWireGuardProtocol.setDeviceRequests(
            familyID: familyID, interface: interface, change: change, maxMessageBytes: maxMessageBytes,
            nextSequence: { socket.allocateSequence() }
        )
        do {
            try socket.exchangeAll(requests, operation: "WG_CMD_SET_DEVICE on \(interface)")
        } catch {
            throw WireGuardError("\(error)", errno: error.errno)
        }
    }

    /// How many messages `change` takes (for tests and benchmarks).
    public func messageCount(for change: DeviceChange) throws(WireGuardError) -> Int {
        try KernelWireGuardProtocol.setDeviceRequests(
            familyID: familyID, interface: interface, change: change, maxMessageBytes: maxMessageBytes, nextSequence: { 0 }
        ).count
    }
}
