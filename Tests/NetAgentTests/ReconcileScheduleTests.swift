import Addressing
import Foundation
@testable import NetAgent
import Registry
import Sodium
import Testing

@Suite struct ReconcileScheduleTests {
    let start = Date(timeIntervalSince1970: 1_900_000_000)
    let clock = ContinuousClock.now

    func schedule() -> ReconcileSchedule { ReconcileSchedule(poll: .milliseconds(200), fullCheck: .seconds(1)) }

    func peer(expiresIn: TimeInterval? = nil, deadlineIn: TimeInterval? = nil) -> Peer {
        Peer(
            id: 1, tenantID: 1, tenantName: "acme", name: "p", publicKey: Curve25519PrivateKey().publicKey,
            address: IPAddress("10.77.0.2")!, presharedKey: nil, state: .active, createdAt: start,
            expiresAt: expiresIn.map { start.addingTimeInterval($0) },
            rotation: deadlineIn.map {
                PendingRotation(
                    publicKey: Curve25519PrivateKey().publicKey, presharedKey: nil, startedAt: start,
                    deadline: start.addingTimeInterval($0)
                )
            }
        )
    }

    @Test func aPassIsDueFirstAfterARegistryChangeAFailureAndEveryFullCheck() {
        var schedule = schedule()
        #expect(schedule.passDue(at: clock, peers: []))
        schedule.passStarted(at: clock)
        schedule.passSucceeded()
        #expect(!schedule.passDue(at: clock + .milliseconds(999), peers: []))
        #expect(schedule.passDue(at: clock + .seconds(1), peers: []))
        schedule.registryChanged()
        #expect(schedule.passDue(at: clock + .milliseconds(1), peers: []))
        schedule.passStarted(at: clock)
        schedule.passFailed()
        #expect(schedule.passDue(at: clock + .milliseconds(1), peers: []))
    }

    @Test func whileARotationIsPendingEveryPollReadsTheDevice() {
        var schedule = schedule()
        schedule.passStarted(at: clock)
        schedule.passSucceeded()
        #expect(!schedule.passDue(at: clock + .milliseconds(200), peers: [peer()]))
        #expect(schedule.passDue(at: clock + .milliseconds(200), peers: [peer(), peer(deadlineIn: 3600)]))
    }

    @Test func theLoopWakesForTheNextExpiryOrDeadlineButNeverSpinsOnPastOnes() {
        let schedule = schedule()
        let expiring = RegistrySnapshot(revision: 1, peers: [peer(expiresIn: 0.05)], apiKeys: [])
        #expect(schedule.sleep(wallClock: start, snapshot: expiring) == .milliseconds(50))
        let rotating = RegistrySnapshot(revision: 1, peers: [peer(deadlineIn: 0.12)], apiKeys: [])
        #expect(schedule.sleep(wallClock: start, snapshot: rotating) == .milliseconds(120))
        #expect(schedule.sleep(wallClock: start.addingTimeInterval(1), snapshot: expiring) == .milliseconds(200))
        #expect(schedule.sleep(wallClock: start.addingTimeInterval(1), snapshot: rotating) == .milliseconds(200))
        #expect(schedule.sleep(wallClock: start, snapshot: nil) == .milliseconds(200))
    }
}
