import Addressing
import ArgumentParser
import Firewall

struct Install: ParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Make the live table match the policy; print what differed.")
    @OptionGroup var options: PolicyOptions
    @Flag(help: "Replace the table even when nothing differs.") var replace = false

    func run() throws {
        let policy = try options.policy()
        let peers = try options.peers()
        let firewall = try Firewall()
        if replace {
            try firewall.replace(policy, peers: peers)
            emit("{\"changed\": true, \"drift\": \"replaced unconditionally\"}")
        } else {
            let drift = try firewall.install(policy, peers: peers)
            emit("{\"changed\": \(!drift.isEmpty), \"drift\": \(json(drift.description))}")
        }
    }
}

struct Peers: ParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Add and remove edge peer addresses in one batch.")
    @Option(help: "Address to add (repeatable).") var add: [String] = []
    @Option(help: "Address to remove (repeatable).") var remove: [String] = []

    func run() throws {
        func parse(_ texts: [String], _ flag: String) throws -> [IPAddress] {
            try texts.map { text in
                guard let address = IPAddress(text) else {
                    throw ValidationError("--\(flag) \"\(text)\" is not an IPv4 or IPv6 address; nothing was changed")
                }
                return address
            }
        }
        try Firewall().changePeers(add: try parse(add, "add"), remove: try parse(remove, "remove"))
    }
}

struct Verify: ParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Read the live table back and compare; exit 1 on drift.")
    @OptionGroup var options: PolicyOptions

    func run() throws {
        let drift = try Firewall().drift(try options.policy(), peers: try options.peers())
        emit("{\"drift\": \(json(drift.description)), \"clean\": \(drift.isEmpty)}")
        if !drift.isEmpty { throw ExitCode(1) }
    }
}

struct Dump: ParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Print the live table as JSON (rules as libnftnl prints them).")

    func run() throws {
        guard let live = try Firewall().readBack() else {
            emit("null")
            return
        }
        var chains: [String] = []
        for chain in live.chains.values.sorted(by: { $0.name < $1.name }) {
            let rules = chain.rules.map { "[" + $0.map(json).joined(separator: ", ") + "]" }.joined(separator: ", ")
            chains.append("\(json(chain.name)): {\"type\": \(json(chain.type ?? "")), \"hook\": \(chain.hook ?? 99), \"priority\": \(chain.priority ?? 0), \"policy\": \(chain.policy ?? 99), \"rules\": [\(rules)]}")
        }
        var sets: [String] = []
        for set in live.sets.values.sorted(by: { $0.name < $1.name }) {
            let elements = set.elements.sorted().map { json($0.description) }.joined(separator: ", ")
            sets.append("\(json(set.name)): {\"key_type\": \(set.keyType), \"key_length\": \(set.keyLength), \"flags\": \(set.flags), \"elements\": [\(elements)]}")
        }
        emit("{\"chains\": {\(chains.joined(separator: ", "))}, \"sets\": {\(sets.joined(separator: ", "))}}")
    }
}

struct FlushConntrack: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "flush-conntrack", abstract: "Delete the connections one source address opened.")
    @Option(help: "The source address.") var source: String

    func run() throws {
        guard let address = IPAddress(source) else {
            throw ValidationError("--source \"\(source)\" is not an IPv4 or IPv6 address; nothing was deleted")
        }
        emit("{\"deleted\": \(try ConntrackFlush.flush(source: address))}")
    }
}

struct RenderNft: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "render-nft", abstract: "Print the policy as an nft script.")
    @OptionGroup var options: PolicyOptions

    func run() throws { print(try options.policy().nftScript, terminator: "") }
}
