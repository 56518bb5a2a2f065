import CNftnl

// Owners of libnftnl objects: each frees its object when released, so no error path leaks.
// Used only inside this module and never shared between threads.

/// A libnftnl attribute enum value as the `uint16_t` the setters take.
@inline(__always)
func nftnlAttribute<T: RawRepresentable>(_ value: T) -> UInt16 where T.RawValue: BinaryInteger {
    UInt16(value.rawValue)
}

/// The same for attribute enums C declares anonymously (they import as `Int`).
@inline(__always)
func nftnlAttribute(_ value: Int) -> UInt16 { UInt16(value) }

final class NftnlTable {
    let pointer: OpaquePointer
    init(name: String) {
        pointer = nftnl_table_alloc()
        nftnl_table_set_u32(pointer, nftnlAttribute(NFTNL_TABLE_FAMILY), UInt32(TableSpec.family))
        nftnl_table_set_str(pointer, nftnlAttribute(NFTNL_TABLE_NAME), name)
    }
    deinit { nftnl_table_free(pointer) }
}

final class NftnlChain {
    let pointer: OpaquePointer
    init() { pointer = nftnl_chain_alloc() }
    init(table: String, chain: TableSpec.Chain?, name: String? = nil) {
        pointer = nftnl_chain_alloc()
        nftnl_chain_set_u32(pointer, nftnlAttribute(NFTNL_CHAIN_FAMILY), UInt32(TableSpec.family))
        nftnl_chain_set_str(pointer, nftnlAttribute(NFTNL_CHAIN_TABLE), table)
        if let chain {
            nftnl_chain_set_str(pointer, nftnlAttribute(NFTNL_CHAIN_NAME), chain.name)
            nftnl_chain_set_str(pointer, nftnlAttribute(NFTNL_CHAIN_TYPE), "filter")
            nftnl_chain_set_u32(pointer, nftnlAttribute(NFTNL_CHAIN_HOOKNUM), chain.hook)
            nftnl_chain_set_s32(pointer, nftnlAttribute(NFTNL_CHAIN_PRIO), chain.priority)
            nftnl_chain_set_u32(pointer, nftnlAttribute(NFTNL_CHAIN_POLICY), UInt32(NF_DROP))
        } else if let name {
            nftnl_chain_set_str(pointer, nftnlAttribute(NFTNL_CHAIN_NAME), name)
        }
    }
    deinit { nftnl_chain_free(pointer) }
}

final class NftnlSet {
    let pointer: OpaquePointer
    init() { pointer = nftnl_set_alloc() }
    init(table: String, set: TableSpec.AddressSet, id: UInt32?) {
        pointer = nftnl_set_alloc()
        nftnl_set_set_u32(pointer, nftnlAttribute(NFTNL_SET_FAMILY), UInt32(TableSpec.family))
        nftnl_set_set_str(pointer, nftnlAttribute(NFTNL_SET_TABLE), table)
        nftnl_set_set_str(pointer, nftnlAttribute(NFTNL_SET_NAME), set.name)
        nftnl_set_set_u32(pointer, nftnlAttribute(NFTNL_SET_KEY_TYPE), set.keyType)
        nftnl_set_set_u32(pointer, nftnlAttribute(NFTNL_SET_KEY_LEN), set.keyLength)
        if let id { nftnl_set_set_u32(pointer, nftnlAttribute(NFTNL_SET_ID), id) }
    }
    deinit { nftnl_set_free(pointer) }

    /// Adds one element per key (4 or 16 bytes); the set takes ownership of each.
    func addElements(_ keys: some Sequence<[UInt8]>) {
        for key in keys {
            let element = nftnl_set_elem_alloc()!
            key.withUnsafeBytes { _ = nftnl_set_elem_set(element, nftnlAttribute(NFTNL_SET_ELEM_KEY), $0.baseAddress, UInt32($0.count)) }
            nftnl_set_elem_add(pointer, element)
        }
    }
}

final class NftnlRule {
    let pointer: OpaquePointer
    init() { pointer = nftnl_rule_alloc() }
    /// A rule for `chain`; `setIDs` lets a lookup name a set created in the same batch.
    init(table: String, chain: String, rule: RuleSpec, setIDs: [String: UInt32]) {
        pointer = nftnl_rule_alloc()
        nftnl_rule_set_u32(pointer, nftnlAttribute(NFTNL_RULE_FAMILY), UInt32(TableSpec.family))
        nftnl_rule_set_str(pointer, nftnlAttribute(NFTNL_RULE_TABLE), table)
        nftnl_rule_set_str(pointer, nftnlAttribute(NFTNL_RULE_CHAIN), chain)
        for expression in rule.expressions {
            nftnl_rule_add_expr(pointer, Self.make(expression, setIDs: setIDs))
        }
    }
    deinit { nftnl_rule_free(pointer) }

    /// The rule's expressions as libnftnl prints them (the same text as ``NftExpression``).
    var expressionTexts: [String] {
        var texts: [String] = []
        guard let iterator = nftnl_expr_iter_create(pointer) else { return texts }
        defer { nftnl_expr_iter_destroy(iterator) }
        var buffer = [CChar](repeating: 0, count: 4096)
        while let expression = nftnl_expr_iter_next(iterator) {
            let name = String(cString: nftnl_expr_get_str(expression, nftnlAttribute(NFTNL_EXPR_NAME)))
            _ = nftnl_expr_snprintf(&buffer, buffer.count, expression, UInt32(NFTNL_OUTPUT_DEFAULT.rawValue), 0)
            texts.append("[ \(name) \(String(cString: buffer))]")
        }
        return texts
    }

    // Register 1 is NFT_REG_1; register 0 is the verdict register.
    private static let register1: UInt32 = 1

    private static func make(_ expression: NftExpression, setIDs: [String: UInt32]) -> OpaquePointer {
        let e = nftnl_expr_alloc(expression.name)!
        let a = { (attribute: Int) -> UInt16 in UInt16(attribute) }
        func data(_ attribute: Int, _ bytes: [UInt8]) {
            bytes.withUnsafeBytes { _ = nftnl_expr_set(e, a(attribute), $0.baseAddress, UInt32($0.count)) }
        }
        switch expression {
        case .meta(let key):
            nftnl_expr_set_u32(e, a(NFTNL_EXPR_META_KEY), key.rawValue)
            nftnl_expr_set_u32(e, a(NFTNL_EXPR_META_DREG), register1)
        case .compare(let op, let bytes):
            nftnl_expr_set_u32(e, a(NFTNL_EXPR_CMP_SREG), register1)
            nftnl_expr_set_u32(e, a(NFTNL_EXPR_CMP_OP), op.rawValue)
            data(NFTNL_EXPR_CMP_DATA, bytes)
        case .payload(let base, let offset, let length):
            nftnl_expr_set_u32(e, a(NFTNL_EXPR_PAYLOAD_DREG), register1)
            nftnl_expr_set_u32(e, a(NFTNL_EXPR_PAYLOAD_BASE), base.rawValue)
            nftnl_expr_set_u32(e, a(NFTNL_EXPR_PAYLOAD_OFFSET), offset)
            nftnl_expr_set_u32(e, a(NFTNL_EXPR_PAYLOAD_LEN), length)
        case .bitwise(let mask, let xor):
            nftnl_expr_set_u32(e, a(NFTNL_EXPR_BITWISE_SREG), register1)
            nftnl_expr_set_u32(e, a(NFTNL_EXPR_BITWISE_DREG), register1)
            nftnl_expr_set_u32(e, a(NFTNL_EXPR_BITWISE_LEN), UInt32(mask.count))
            data(NFTNL_EXPR_BITWISE_MASK, mask)
            data(NFTNL_EXPR_BITWISE_XOR, xor)
        case .lookup(let set):
            nftnl_expr_set_u32(e, a(NFTNL_EXPR_LOOKUP_SREG), register1)
            nftnl_expr_set_str(e, a(NFTNL_EXPR_LOOKUP_SET), set)
            // Explicit flags 0 (not inverted), so a built rule prints as the kernel reports it.
            nftnl_expr_set_u32(e, a(NFTNL_EXPR_LOOKUP_FLAGS), 0)
            if let id = setIDs[set] { nftnl_expr_set_u32(e, a(NFTNL_EXPR_LOOKUP_SET_ID), id) }
        case .ctState:
            nftnl_expr_set_u32(e, a(NFTNL_EXPR_CT_KEY), UInt32(NFT_CT_STATE.rawValue))
            nftnl_expr_set_u32(e, a(NFTNL_EXPR_CT_DREG), register1)
        case .accept:
            nftnl_expr_set_u32(e, a(NFTNL_EXPR_IMM_DREG), 0)
            nftnl_expr_set_u32(e, a(NFTNL_EXPR_IMM_VERDICT), UInt32(NF_ACCEPT))
        }
        return e
    }
}
