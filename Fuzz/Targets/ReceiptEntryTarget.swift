import Foundation
import Receipts

/// A receipt log leaf (``ReceiptEncoding``) of either version, as popaudit, clients and the log's
/// replay read it: the encoding is canonical (what decodes re-encodes to the same bytes, in the
/// version it was written in), and the readable form shows that version and survives a JSON round trip.
enum ReceiptEntryTarget {
    static let target = FuzzTarget(
        name: "receipt-entry", summary: "a receipt's binary encoding: decode, re-encode byte for byte, readable form",
        run: run
    )

    static func run(_ data: UnsafeRawBufferPointer) {
        let bytes = Array(data)
        guard let receipt = try? ReceiptEncoding.decode(bytes) else { return }
        FuzzCheck.require(ReceiptEncoding.encode(receipt) == bytes, "a decoded receipt encodes to other bytes")
        let readable = ReceiptJSON(receipt)
        FuzzCheck.require(readable.version == Int(bytes[0]), "a receipt's readable form shows another version")
        do {
            let json = try JSONEncoder().encode(readable)
            let back = try JSONDecoder().decode(ReceiptJSON.self, from: json)
            FuzzCheck.require(back == readable, "a receipt's readable form reads back differently")
        } catch {
            FuzzCheck.require(false, "a receipt's readable form does not round-trip through JSON: \(error)")
        }
    }
}
