import Addressing
import Testing

@testable import Firewall

@Suite("Validating a policy")
struct ValidationTests {
    private func problem(_ change: (inout FirewallPolicy) -> Void) -> FirewallPolicyError? {
        var policy = FirewallPolicy.documentedDefault
        change(&policy)
        do {
            try policy.validate()
            return nil
        } catch {
            return error
        }
    }

    @Test("the documented default is valid")
    func defaultIsValid() throws { try FirewallPolicy.documentedDefault.validate() }

    @Test("an empty interface name is refused, naming the field")
    func emptyInterface() throws {
        let error = try #require(problem { $0.edge.interface = "" })
        #expect(error.field == "edge.interface")
        #expect(error.description.contains("empty"))
        #expect(error.description.contains("nothing was changed"))
    }

    @Test("an over-long interface name is refused")
    func longInterface() throws {
        let error = try #require(problem { $0.backbone?.interface = "a-very-long-name0" })
        #expect(error.field == "backbone.interface")
        #expect(error.problem.contains("15"))
    }

    @Test("a prefix with host bits set is refused with the corrected prefix")
    func hostBits() throws {
        let error = try #require(problem { $0.management?.allowedPrefixes = [IPPrefix("192.0.2.0/24")!, IPPrefix("198.51.100.7/24")!] })
        #expect(error.field == "management.allowedPrefixes[1]")
        #expect(error.problem.contains("198.51.100.0/24"))
    }

    @Test("a prefix that matches everything is refused")
    func everything() throws {
        let error = try #require(problem { $0.backbone?.workerPrefixes = [IPPrefix("0.0.0.0/0")!] })
        #expect(error.field == "backbone.workerPrefixes[0]")
    }

    @Test("text that is not a prefix is refused naming the field")
    func unparsable() {
        #expect(throws: FirewallPolicyError(field: "management.allowedPrefixes[0]",
                                            problem: "\"192.0.2.0/33\" is not an address prefix; write it as 192.0.2.0/24 or 2001:db8::/32")) {
            try FirewallPolicy.parsePrefix("192.0.2.0/33", field: "management.allowedPrefixes[0]")
        }
    }

    @Test("ports out of range, repeated, or missing are refused")
    func ports() throws {
        #expect(try #require(problem { $0.edge.apiPort = 0 }).field == "edge.apiPort")
        #expect(try #require(problem { $0.uplink.wireGuardPorts = [51820, 51820] }).field == "uplink.wireGuardPorts[1]")
        #expect(try #require(problem { $0.management?.ports = [] }).field == "management.ports")
        #expect(try #require(problem { $0.backbone?.ports = [70000] }).field == "backbone.ports[0]")
    }

    @Test("a bad policy is refused before anything is read or sent")
    func nothingSent() throws {
        var policy = FirewallPolicy.documentedDefault
        policy.uplink.interface = ""
        // Opening a netlink socket needs no privilege; any request would fail without root, so a
        // policy error (not a netlink one) shows the refusal came first.
        let firewall = try Firewall()
        #expect {
            try firewall.install(policy, peers: [])
        } throws: { error in
            guard case .policy(let problem) = error as? FirewallError else { return false }
            return problem.field == "uplink.interface"
        }
    }
}
