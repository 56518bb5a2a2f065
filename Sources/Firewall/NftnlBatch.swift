import CMnl
import CNftnl

/// One nfnetlink batch (NFNL_MSG_BATCH_BEGIN … END) built from libnftnl objects: the kernel
/// applies all of it or none of it.
///
/// Every message asks for an ACK, so a refusal is matched to the message that caused it;
/// `labels` says in words what each sequence number was ("add rule 4 to chain input").
struct NftnlBatch {
    private(set) var bytes: [UInt8] = []
    private(set) var sequences: [UInt32] = []
    private(set) var labels: [UInt32: String] = [:]
    private(set) var messageCount = 0
    /// The BEGIN message's sequence: the kernel answers with it when it refuses the whole batch.
    let batchSequence: UInt32
    // Larger than any message appendElements builds (at most ~33 KiB).
    private var scratch = [UInt8](repeating: 0, count: 1 << 16)
    private let nextSequence: () -> UInt32

    init(nextSequence: @escaping () -> UInt32) {
        self.nextSequence = nextSequence
        let sequence = nextSequence()
        batchSequence = sequence
        appendRaw { buffer in nftnl_batch_begin(buffer, sequence) }
    }

    /// Appends one NFT_MSG_* message; `build` writes its payload.
    mutating func append(
        _ type: nf_tables_msg_types, flags: Int32, label: String, build: (UnsafeMutablePointer<nlmsghdr>) -> Void
    ) {
        let sequence = nextSequence()
        sequences.append(sequence)
        labels[sequence] = label
        appendRaw { buffer in
            let header = nftnl_nlmsg_build_hdr(buffer, UInt16(type.rawValue), TableSpec.family, UInt16(flags | NLM_F_ACK), sequence)!
            build(header)
            return header
        }
    }

    /// Appends the messages that add (NFT_MSG_NEWSETELEM) or delete (NFT_MSG_DELSETELEM) `keys`
    /// in `set`, split so each message's element list stays well under the 64 KiB an attribute
    /// nest can hold. (libnftnl 1.2.4's own splitter does not bound the message size.)
    mutating func appendElements(_ type: nf_tables_msg_types, table: String, set: TableSpec.AddressSet, keys: [[UInt8]], label: String) {
        // Per element: element nest, key nest and key attribute headers (12 bytes) plus the key.
        let perMessage = 32768 / (12 + Int(set.keyLength))
        let flags = type == NFT_MSG_NEWSETELEM ? NLM_F_CREATE : 0
        var start = 0
        var part = 0
        while start < keys.count {
            let end = min(start + perMessage, keys.count)
            let chunk = NftnlSet(table: table, set: set, id: nil)
            chunk.addElements(keys[start..<end])
            part += 1
            let suffix = keys.count > perMessage ? " (message \(part))" : ""
            append(type, flags: flags, label: label + suffix) { header in
                nftnl_set_elems_nlmsg_build_payload(header, chunk.pointer)
            }
            start = end
        }
    }

    /// Closes the batch; the bytes go to the kernel in one sendmsg.
    mutating func finish() -> [UInt8] {
        let sequence = nextSequence()
        appendRaw { buffer in nftnl_batch_end(buffer, sequence) }
        return bytes
    }

    private mutating func appendRaw(_ build: (UnsafeMutablePointer<CChar>) -> UnsafeMutablePointer<nlmsghdr>) {
        let length = scratch.withUnsafeMutableBytes { raw -> Int in
            let header = build(raw.baseAddress!.assumingMemoryBound(to: CChar.self))
            return Int(header.pointee.nlmsg_len)
        }
        precondition(length <= scratch.count, "a netlink message overran the batch scratch buffer")
        bytes.append(contentsOf: scratch[0..<((length + 3) & ~3)])
        messageCount += 1
    }
}
