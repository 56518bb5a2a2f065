import Addressing

extension Firewall {
    /// The owner's answer to a change notification (or to lost notifications): reads back and
    /// repairs whatever differs from `policy` with `peers`; returns what was found (empty: nothing
    /// was sent).
    ///
    /// A whole-table replacement runs with `monitor` unsubscribed — with a listener the kernel
    /// builds a notification per set element, which makes a 100,000-element load several times
    /// slower. If the ruleset generation moved by more than our own commit meanwhile, someone
    /// else changed something unheard: one more install repairs it.
    @discardableResult
    public func repair(_ policy: FirewallPolicy, peers: Set<IPAddress>, monitor: FirewallMonitor) throws(FirewallError) -> FirewallDrift {
        var drift = try self.drift(policy, peers: peers)
        if drift.isEmpty { return drift }
        if drift.structural.isEmpty {
            try changePeers(add: drift.missingElements, remove: drift.extraElements)
            return drift
        }
        let before = try generation()
        try monitor.suspended { () throws(FirewallError) in try replace(policy, peers: peers) }
        if try generation() != before &+ 1 {
            let late = try install(policy, peers: peers)
            if !late.isEmpty { drift.structural.append("and after the replacement: \(late)") }
        }
        return drift
    }
}
