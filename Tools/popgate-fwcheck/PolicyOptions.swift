import Addressing
import ArgumentParser
import Firewall

#if canImport(Glibc)
import Glibc
#endif

/// The policy on the command line; every default is `FirewallPolicy.documentedDefault`.
struct PolicyOptions: ParsableArguments {
    @Option(help: "Uplink interface (WireGuard UDP arrives here).") var uplink = "eth0"
    @Option(name: .customLong("wg-port"), help: "WireGuard UDP port (repeatable).") var wireGuardPorts: [Int] = []
    @Option(help: "Edge WireGuard interface (the API is served here).") var edge = "wg-edge"
    @Option(name: .customLong("api-port"), help: "API TCP port on the edge interface.") var apiPort = 8080
    @Option(help: "Management interface.") var management = "mgmt0"
    @Option(name: .customLong("mgmt-prefix"), help: "Prefix allowed to management ports (repeatable).") var managementPrefixes: [String] = []
    @Option(name: .customLong("mgmt-port"), help: "Management TCP port (repeatable).") var managementPorts: [Int] = []
    @Flag(name: .customLong("no-management"), help: "No management section.") var noManagement = false
    @Option(help: "Backbone interface to the workers.") var backbone = "bb0"
    @Option(name: .customLong("worker-prefix"), help: "Worker prefix on the backbone (repeatable).") var workerPrefixes: [String] = []
    @Option(name: .customLong("worker-port"), help: "Worker TCP port (repeatable).") var workerPorts: [Int] = []
    @Flag(name: .customLong("no-backbone"), help: "No backbone section.") var noBackbone = false
    @Option(name: .customLong("peers-file"), help: "File with the edge peer addresses, one a line.") var peersFile: String?

    /// The policy, validated; a bad field is reported naming the field.
    func policy() throws -> FirewallPolicy {
        let base = FirewallPolicy.documentedDefault
        var policy = base
        policy.uplink = .init(interface: uplink, wireGuardPorts: wireGuardPorts.isEmpty ? base.uplink.wireGuardPorts : wireGuardPorts)
        policy.edge = .init(interface: edge, apiPort: apiPort)
        if noManagement {
            policy.management = nil
        } else {
            let prefixes = try managementPrefixes.enumerated().map { index, text throws(FirewallPolicyError) in
                try FirewallPolicy.parsePrefix(text, field: "management.allowedPrefixes[\(index)] (--mgmt-prefix)")
            }
            policy.management = .init(
                interface: management, allowedPrefixes: prefixes.isEmpty ? base.management!.allowedPrefixes : prefixes,
                ports: managementPorts.isEmpty ? base.management!.ports : managementPorts
            )
        }
        if noBackbone {
            policy.backbone = nil
        } else {
            let prefixes = try workerPrefixes.enumerated().map { index, text throws(FirewallPolicyError) in
                try FirewallPolicy.parsePrefix(text, field: "backbone.workerPrefixes[\(index)] (--worker-prefix)")
            }
            policy.backbone = .init(
                interface: backbone, workerPrefixes: prefixes.isEmpty ? base.backbone!.workerPrefixes : prefixes,
                ports: workerPorts.isEmpty ? base.backbone!.ports : workerPorts
            )
        }
        try policy.validate()
        return policy
    }

    /// The peer addresses from `--peers-file`, or none.
    func peers() throws -> Set<IPAddress> {
        guard let peersFile else { return [] }
        return try readAddresses(peersFile)
    }
}

/// Reads addresses one a line (blank lines and `#` comments skipped); names the file and line
/// of a bad one. Works on bytes: the benchmark and the tests feed it 100,000 lines.
func readAddresses(_ path: String) throws -> Set<IPAddress> {
    guard let file = fopen(path, "r") else {
        throw ValidationError("cannot open peers file \(path): \(String(cString: strerror(errno)))")
    }
    defer { fclose(file) }
    var bytes: [UInt8] = []
    var chunk = [UInt8](repeating: 0, count: 1 << 16)
    while true {
        let count = fread(&chunk, 1, chunk.count, file)
        if count == 0 { break }
        bytes += chunk[0..<count]
    }
    var addresses = Set<IPAddress>()
    let blank: Set<UInt8> = [0x20, 0x09, 0x0d]
    for (index, rawLine) in bytes.split(separator: 0x0a, omittingEmptySubsequences: false).enumerated() {
        var line = rawLine[...]
        while let first = line.first, blank.contains(first) { line.removeFirst() }
        while let last = line.last, blank.contains(last) { line.removeLast() }
        if line.isEmpty || line.first == UInt8(ascii: "#") { continue }
        let text = String(decoding: line, as: UTF8.self)
        guard let address = IPAddress(text) else {
            throw ValidationError("\(path):\(index + 1): \"\(text)\" is not an IPv4 or IPv6 address; nothing was changed")
        }
        addresses.insert(address)
    }
    return addresses
}

/// Prints one line and flushes, so a test reading the pipe sees it at once.
func emit(_ line: String) {
    print(line)
    fflush(nil)  // all streams: `stdout` is a global var Swift 6 refuses to touch
}

/// A JSON string literal.
func json(_ text: String) -> String {
    var out = "\""
    for scalar in text.unicodeScalars {
        switch scalar {
        case "\"": out += "\\\""
        case "\\": out += "\\\\"
        case "\n": out += "\\n"
        default: out.unicodeScalars.append(scalar)
        }
    }
    return out + "\""
}
