/// Builds one netlink message: header, family header, then attributes, nested as needed.
///
/// Pure: it produces bytes and touches no socket, so it is tested byte for byte against
/// messages captured from real tools. Integers are host order, as netlink requires (x86_64
/// and arm64 are little-endian).
public struct NetlinkMessageBuilder: Sendable {
    /// The bytes so far; `finish()` patches the length.
    public private(set) var bytes: [UInt8]
    private var openNests: [Int] = []

    /// Starts a message of `type` with `flags`, `sequence` and `portID` (0 = the kernel).
    public init(type: UInt16, flags: NetlinkFlags, sequence: UInt32, portID: UInt32 = 0) {
        bytes = []
        bytes.reserveCapacity(256)
        append(UInt32(0))  // length, patched by finish()
        append(type)
        append(flags.rawValue)
        append(sequence)
        append(portID)
    }

    /// The message length so far, with padding.
    public var count: Int { bytes.count }

    /// Appends a generic netlink header (`genlmsghdr`).
    public mutating func appendGenericHeader(command: UInt8, version: UInt8) {
        bytes += [command, version, 0, 0]
    }

    /// Appends raw family-header bytes (e.g. `ifinfomsg`), padded to 4 bytes.
    public mutating func appendFamilyHeader(_ header: [UInt8]) {
        bytes += header
        pad()
    }

    /// Appends an attribute whose payload is `value`.
    public mutating func appendAttribute(_ type: UInt16, _ value: some Collection<UInt8>) {
        append(UInt16(4 + value.count))
        append(type)
        bytes += value
        pad()
    }

    public mutating func appendAttribute(_ type: UInt16, u8 value: UInt8) { appendInteger(type, value) }
    public mutating func appendAttribute(_ type: UInt16, u16 value: UInt16) { appendInteger(type, value) }
    public mutating func appendAttribute(_ type: UInt16, u32 value: UInt32) { appendInteger(type, value) }
    public mutating func appendAttribute(_ type: UInt16, u64 value: UInt64) { appendInteger(type, value) }

    // Integer attributes are written in place: this runs once per field of every peer.
    private mutating func appendInteger<T: FixedWidthInteger>(_ type: UInt16, _ value: T) {
        append(UInt16(4 + MemoryLayout<T>.size))
        append(type)
        append(value)
        pad()
    }

    /// Appends a NUL-terminated string attribute.
    public mutating func appendAttribute(_ type: UInt16, string value: String) {
        appendAttribute(type, Array(value.utf8) + [0])
    }

    /// Opens a nested attribute; close it with ``endNested()``.
    public mutating func beginNested(_ type: UInt16) {
        openNests.append(bytes.count)
        append(UInt16(0))
        append(type | NetlinkConstants.attributeNested)
    }

    /// Closes the innermost open nest, patching its length.
    public mutating func endNested() {
        let start = openNests.removeLast()
        patch(UInt16(bytes.count - start), at: start)
    }

    /// Removes the innermost open nest and everything in it (used when a nest would not fit).
    public mutating func cancelNested() {
        let start = openNests.removeLast()
        bytes.removeSubrange(start...)
    }

    /// The finished message with its length set. All nests must be closed.
    public func finish() -> [UInt8] {
        precondition(openNests.isEmpty, "a nested attribute was left open")
        var out = bytes
        let length = UInt32(out.count)
        withUnsafeBytes(of: length.littleEndian) { out.replaceSubrange(0..<4, with: $0) }
        return out
    }

    private mutating func pad() {
        while bytes.count % 4 != 0 { bytes.append(0) }
    }

    private mutating func append<T: FixedWidthInteger>(_ value: T) {
        withUnsafeBytes(of: value.littleEndian) { bytes.append(contentsOf: $0) }
    }

    private mutating func patch(_ value: UInt16, at offset: Int) {
        let encoded = Self.le(value)
        bytes[offset] = encoded[0]
        bytes[offset + 1] = encoded[1]
    }

    static func le<T: FixedWidthInteger>(_ value: T) -> [UInt8] {
        withUnsafeBytes(of: value.littleEndian) { Array($0) }
    }
}
