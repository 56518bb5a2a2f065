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

    @Test func theDeviceIsReadFirstAfterAFailureAndEveryFullCheck() {
        var schedule = schedule()
        #expect(schedule.due(at: clock, peers: []) == .againstDevice)
        schedule.passStarted(.againstDevice, at: clock)
        schedule.passSucceeded()
        #expect(schedule.due(at: clock + .milliseconds(999), peers: []) == nil)
        #expect(schedule.due(at: clock + .seconds(1), peers: []) == .againstDevice)
        schedule.passStarted(.againstDevice, at: clock)
        schedule.passFailed()
        #expect(schedule.due(at: clock + .milliseconds(1), peers: []) == .againstDevice)
    }

    @Test func aRegistryChangeAloneIsAppliedFromTheRegistryAndDoesNotPostponeTheFullCheck() {
        var schedule = schedule()
        schedule.passStarted(.againstDevice, at: clock)
        schedule.passSucceeded()
        schedule.registryChanged()
        #expect(schedule.due(at: clock + .milliseconds(500), peers: []) == .fromRegistry)
        schedule.passStarted(.fromRegistry, at: clock + .milliseconds(500))
        schedule.passSucceeded()
        #expect(schedule.due(at: clock + .milliseconds(600), peers: []) == nil)
        #expect(schedule.due(at: clock + .seconds(1), peers: []) == .againstDevice)
        // A failed registry pass is retried against the device.
        schedule.registryChanged()
        schedule.passStarted(.fromRegistry, at: clock + .milliseconds(700))
        schedule.passFailed()
        #expect(schedule.due(at: clock + .milliseconds(701), peers: []) == .againstDevice)
    }

    @Test func whileARotationIsPendingEveryPollReadsTheDevice() {
        var schedule = schedule()
        schedule.passStarted(.againstDevice, at: clock)
        schedule.passSucceeded()
        #expect(schedule.due(at: clock + .milliseconds(200), peers: [peer()]) == nil)
        #expect(schedule.due(at: clock + .milliseconds(200), peers: [peer(), peer(deadlineIn: 3600)]) == .againstDevice)
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
