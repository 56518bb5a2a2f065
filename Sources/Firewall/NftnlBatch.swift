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
    private var scratch = [UInt8](repeating: 0, count: 1 << 16)
    private let nextSequence: () -> UInt32

    init(nextSequence: @escaping () -> UInt32) {
        self.nextSequence = nextSequence
        let sequence = nextSequence()
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

    /// Appends the messages that add `set`'s elements, as many per message as fit (libnftnl
    /// splits them), for NFT_MSG_NEWSETELEM or NFT_MSG_DELSETELEM.
    mutating func appendElements(_ type: nf_tables_msg_types, of set: NftnlSet, label: String) {
        guard let iterator = nftnl_set_elems_iter_create(set.pointer) else { return }
        defer { nftnl_set_elems_iter_destroy(iterator) }
        var part = 0
        var more = true
        while more && nftnl_set_elems_iter_cur(iterator) != nil {
            part += 1
            let flags = type == NFT_MSG_NEWSETELEM ? NLM_F_CREATE : 0
            append(type, flags: flags, label: "\(label) (message \(part))") { header in
                more = nftnl_set_elems_nlmsg_build_payload_iter(header, iterator) > 0
            }
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
