import Netlink
import Testing

@Suite struct NetlinkCodecTests {
    @Test func buildsTheControllerRequestLikeLibmnl() {
        // CTRL_CMD_GETFAMILY "wireguard" (seq 7): 16-byte header, genl header,
        // one 14-byte string attribute padded to 16.
        let bytes = GenericFamily.resolveRequest(name: "wireguard", sequence: 7)
        #expect(bytes == [
            36, 0, 0, 0, 0x10, 0, 5, 0, 7, 0, 0, 0, 0, 0, 0, 0,
            3, 1, 0, 0,
            14, 0, 2, 0, 0x77, 0x69, 0x72, 0x65, 0x67, 0x75, 0x61, 0x72, 0x64, 0, 0, 0,
        ])
    }

    @Test func nestsRoundTrip() throws {
        var builder = NetlinkMessageBuilder(type: 0x20, flags: [.request], sequence: 1)
        builder.appendGenericHeader(command: 1, version: 1)
        builder.appendAttribute(2, string: "wg0")
        builder.beginNested(8)
        builder.beginNested(0)
        builder.appendAttribute(1, [UInt8](repeating: 0xab, count: 32))
        builder.appendAttribute(5, u16: 25)
        builder.endNested()
        builder.endNested()
        let message = try #require(try NetlinkMessage.parseAll(builder.finish()).first)
        #expect(message.type == 0x20)
        let (command, attributes) = try message.genericAttributes()
        #expect(command == 1)
        #expect(attributes.first(2)?.string() == "wg0")
        let peers = try #require(attributes.first(8))
        #expect(peers.isNested)
        let peer = try #require(try peers.nested().first)
        let fields = try peer.nested()
        #expect(fields.first(1)?.payload.count == 32)
        #expect(try fields.first(5)?.u16() == 25)
    }

    @Test func cancelledNestsLeaveNoTrace() {
        var a = NetlinkMessageBuilder(type: 0x20, flags: [.request], sequence: 1)
        a.appendAttribute(1, u32: 9)
        var b = a
        b.beginNested(8)
        b.appendAttribute(1, u64: 1)
        b.cancelNested()
        #expect(a.finish() == b.finish())
    }

    @Test func decodesAnErrorWithTheKernelsExtendedAck() throws {
        // NLMSG_ERROR, flags CAPPED|ACK_TLVS, error -EINVAL, the capped request header, then
        // NLMSGERR_ATTR_MSG "bad peer" and NLMSGERR_ATTR_OFFS 40.
        var builder = NetlinkMessageBuilder(type: NetlinkConstants.error, flags: [.capped, .ackTLVs], sequence: 9, portID: 77)
        builder.appendFamilyHeader([0xea, 0xff, 0xff, 0xff])
        builder.appendFamilyHeader([20, 0, 0, 0, 0x1b, 0, 5, 0, 9, 0, 0, 0, 77, 0, 0, 0])
        builder.appendAttribute(NetlinkConstants.extendedAckMessage, string: "bad peer")
        builder.appendAttribute(NetlinkConstants.extendedAckOffset, u32: 40)
        let message = try #require(try NetlinkMessage.parseAll(builder.finish()).first)
        let error = try #require(try message.errorReply(operation: "WG_CMD_SET_DEVICE on wg0"))
        #expect(error.errno == 22)
        #expect(error.kernelMessage == "bad peer")
        #expect(error.attributeOffset == 40)
        #expect("\(error)".contains("EINVAL"))
        #expect("\(error)".contains("wg0"))
    }

    @Test func anAckIsNotAnError() throws {
        var builder = NetlinkMessageBuilder(type: NetlinkConstants.error, flags: [.capped], sequence: 9)
        builder.appendFamilyHeader([0, 0, 0, 0])
        builder.appendFamilyHeader([UInt8](repeating: 0, count: 16))
        let message = try #require(try NetlinkMessage.parseAll(builder.finish()).first)
        #expect(try message.errorReply(operation: "x") == nil)
    }

    @Test func anErrorCodeWithoutANegationIsMalformedNotATrap() throws {
        var builder = NetlinkMessageBuilder(type: NetlinkConstants.error, flags: [.capped], sequence: 9)
        builder.appendFamilyHeader([0, 0, 0, 0x80])  // Int32.min, little-endian
        builder.appendFamilyHeader([UInt8](repeating: 0, count: 16))
        let message = try #require(try NetlinkMessage.parseAll(builder.finish()).first)
        #expect(throws: NetlinkError.self) { try message.errorReply(operation: "x") }
    }

    @Test(arguments: [
        [UInt8]([40, 0, 0, 0, 0x10, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0]),  // claims 40, has 16
        [UInt8]([8, 0, 0, 0, 0x10, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0]),  // shorter than a header
        [UInt8]([20, 0, 0, 0, 0x10, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 3, 1, 0]),  // truncated
    ])
    func truncatedOrLyingMessagesAreRefused(_ bytes: [UInt8]) {
        #expect(throws: NetlinkError.self) { try NetlinkMessage.parseAll(bytes) }
    }

    @Test func lyingAttributeLengthsAreRefused() {
        #expect(throws: NetlinkError.self) { try NetlinkAttribute.parse([200, 0, 1, 0, 1, 2, 3, 4][...]) }
        #expect(throws: NetlinkError.self) { try NetlinkAttribute.parse([2, 0, 1, 0][...]) }
        #expect(throws: NetlinkError.self) { try NetlinkAttribute.parse([8, 0][...]) }
    }

    @Test func randomBytesNeverCrashTheDecoder() {
        var generator = SystemRandomNumberGenerator()
        for _ in 0..<2000 {
            let count = Int.random(in: 0..<96, using: &generator)
            var bytes = (0..<count).map { _ in UInt8.random(in: 0...255, using: &generator) }
            if count >= 4 { bytes[0] = UInt8(count); bytes[1] = 0; bytes[2] = 0; bytes[3] = 0 }
            if let messages = try? NetlinkMessage.parseAll(bytes) {
                for message in messages {
                    _ = try? message.errorReply(operation: "fuzz")
                    if let (_, attributes) = try? message.genericAttributes() {
                        for attribute in attributes { _ = try? attribute.nested() }
                    }
                }
            }
        }
    }
}
