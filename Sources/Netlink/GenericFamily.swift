/// Resolving a generic netlink family (e.g. "wireguard") to its message type.
public enum GenericFamily {
    /// The CTRL_CMD_GETFAMILY request for `name`.
    public static func resolveRequest(name: String, sequence: UInt32) -> [UInt8] {
        var builder = NetlinkMessageBuilder(
            type: NetlinkConstants.genericControllerID, flags: [.request, .ack], sequence: sequence
        )
        builder.appendGenericHeader(command: NetlinkConstants.ctrlCommandGetFamily, version: 1)
        builder.appendAttribute(NetlinkConstants.ctrlAttributeFamilyName, string: name)
        return builder.finish()
    }

    /// The family id in the controller's reply.
    public static func familyID(in message: NetlinkMessage) throws(NetlinkError) -> UInt16? {
        guard message.type == NetlinkConstants.genericControllerID else { return nil }
        return try message.genericAttributes().attributes.first(NetlinkConstants.ctrlAttributeFamilyID)?.u16()
    }
}
