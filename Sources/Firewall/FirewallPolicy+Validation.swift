import Addressing

extension FirewallPolicy {
    /// Checks every field; throws the first problem, naming the field.
    public func validate() throws(FirewallPolicyError) {
        try Self.checkInterface(uplink.interface, field: "uplink.interface")
        try Self.checkPorts(uplink.wireGuardPorts, field: "uplink.wireGuardPorts", allowEmpty: false)
        try Self.checkInterface(edge.interface, field: "edge.interface")
        try Self.checkPort(edge.apiPort, field: "edge.apiPort")
        if let management {
            try Self.checkInterface(management.interface, field: "management.interface")
            try Self.checkPrefixes(management.allowedPrefixes, field: "management.allowedPrefixes")
            try Self.checkPorts(management.ports, field: "management.ports", allowEmpty: false)
        }
        if let backbone {
            try Self.checkInterface(backbone.interface, field: "backbone.interface")
            try Self.checkPrefixes(backbone.workerPrefixes, field: "backbone.workerPrefixes")
            try Self.checkPorts(backbone.ports, field: "backbone.ports", allowEmpty: false)
        }
        for (index, allowance) in outputAllowances.enumerated() {
            try Self.checkInterface(allowance.interface, field: "outputAllowances[\(index)].interface")
            try Self.checkPrefixes([allowance.destination], field: "outputAllowances[\(index)].destination")
            try Self.checkPort(allowance.port, field: "outputAllowances[\(index)].port")
        }
    }

    static func checkInterface(_ name: String, field: String) throws(FirewallPolicyError) {
        guard !name.isEmpty else {
            throw FirewallPolicyError(field: field, problem: "the interface name is empty; give the interface's name (1-15 characters)")
        }
        guard name.utf8.count <= 15 else {
            throw FirewallPolicyError(field: field, problem: "\"\(name)\" is \(name.utf8.count) bytes; Linux interface names have at most 15")
        }
        guard name.utf8.allSatisfy({ $0 > 0x20 && $0 < 0x7f && $0 != UInt8(ascii: "/") && $0 != UInt8(ascii: "\"") }) else {
            throw FirewallPolicyError(field: field, problem: "\"\(name)\" contains a space, quote, slash or non-ASCII byte; use the interface's exact name")
        }
    }

    static func checkPort(_ port: Int, field: String) throws(FirewallPolicyError) {
        guard (1...65535).contains(port) else {
            throw FirewallPolicyError(field: field, problem: "port \(port) is outside 1-65535")
        }
    }

    static func checkPorts(_ ports: [Int], field: String, allowEmpty: Bool) throws(FirewallPolicyError) {
        guard allowEmpty || !ports.isEmpty else {
            throw FirewallPolicyError(field: field, problem: "no port is given; list at least one, or leave the whole section out")
        }
        var seen = Set<Int>()
        for (index, port) in ports.enumerated() {
            try checkPort(port, field: "\(field)[\(index)]")
            guard seen.insert(port).inserted else {
                throw FirewallPolicyError(field: "\(field)[\(index)]", problem: "port \(port) is listed twice; list it once")
            }
        }
    }

    static func checkPrefixes(_ prefixes: [IPPrefix], field: String) throws(FirewallPolicyError) {
        guard !prefixes.isEmpty else {
            throw FirewallPolicyError(field: field, problem: "no prefix is given; list at least one, or leave the whole section out")
        }
        for (index, prefix) in prefixes.enumerated() {
            guard prefix.length > 0 else {
                throw FirewallPolicyError(field: "\(field)[\(index)]", problem: "\(prefix) matches every address; name the networks that may pass")
            }
            guard prefix.address == prefix.network else {
                throw FirewallPolicyError(field: "\(field)[\(index)]", problem: "\(prefix) has host bits set; write \(prefix.network)/\(prefix.length)")
            }
        }
    }

    /// Parses a prefix for a policy field, with an error naming the field (for callers that
    /// build a policy from text: the command line, a configuration file).
    public static func parsePrefix(_ text: String, field: String) throws(FirewallPolicyError) -> IPPrefix {
        guard let prefix = IPPrefix(text) else {
            throw FirewallPolicyError(field: field, problem: "\"\(text)\" is not an address prefix; write it as 192.0.2.0/24 or 2001:db8::/32")
        }
        return prefix
    }
}
