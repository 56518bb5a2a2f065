import Addressing
import Foundation
@testable import Gateway
import NIOConcurrencyHelpers
import Registry
import Testing

/// The directory's roster of open connections: who is told what when a replacement revokes a
/// peer or a key, and the request admitted across a replacement.
@Suite struct PeerDirectoryRevocationTests {
    typealias Fixture = RevokedEntriesTests

    /// What one enrolled connection has been told.
    final class Inbox: Sendable {
        private let received = NIOLockedValueBox<[Revocation]>([])
        var all: [Revocation] { received.withLockedValue { $0 } }
        func tell(_ revocation: Revocation) { received.withLockedValue { $0.append(revocation) } }
    }

    static let acmeKey = "aaaaaaaaaaaaaaaa"
    static let otherKey = "bbbbbbbbbbbbbbbb"

    /// A request authenticated with `key` as the fixture's snapshots hold it.
    static func identity(_ peer: Peer, key: String) -> RequestIdentity {
        RequestIdentity(peer: peer, keyID: key, defaultTier: .fast, keySecretHash: Fixture.key(key).secretHash)
    }

    func directory() -> PeerDirectory {
        PeerDirectory(Fixture.before)
    }

    func enroll(_ directory: PeerDirectory, _ peer: Peer) throws -> (RevocationRoster.Ticket, Inbox) {
        let inbox = Inbox()
        let ticket = try #require(directory.enroll(address: peer.address) { inbox.tell($0) })
        return (ticket, inbox)
    }

    func snapshot(peers: [Peer], keys: [String]) -> RegistrySnapshot {
        RegistrySnapshot(revision: 2, peers: peers, apiKeys: keys.map { Fixture.key($0) })
    }

    @Test func onlyALivePeersConnectionIsEnrolled() {
        #expect(directory().enroll(address: IPAddress("10.77.0.99")!) { _ in } == nil)
    }

    @Test func aRevokedPeersConnectionsAreToldAndNoOtherPeers() throws {
        let directory = directory()
        let (_, first) = try enroll(directory, Fixture.laptop)
        let (_, second) = try enroll(directory, Fixture.laptop)
        let (_, phone) = try enroll(directory, Fixture.phone)
        let replacement = directory.replaceReporting(
            with: snapshot(peers: [Fixture.phone], keys: [Self.acmeKey, Self.otherKey]), at: Fixture.now
        )
        #expect(first.all == [.peer(.revoked)] && second.all == [.peer(.revoked)])
        #expect(phone.all.isEmpty)
        #expect(replacement.connectionsTold == 2 && replacement.revoked.peers == [1: .revoked])
    }

    @Test func aRevokedKeyReachesTheRequestInFlightOnItAndNoOther() throws {
        let directory = directory()
        let (ticket, onKey) = try enroll(directory, Fixture.laptop)
        let (otherTicket, onOtherKey) = try enroll(directory, Fixture.phone)
        let (_, idle) = try enroll(directory, Fixture.laptop)
        #expect(directory.admit(ticket, Self.identity(Fixture.laptop, key: Self.acmeKey)) == nil)
        #expect(directory.admit(otherTicket, Self.identity(Fixture.phone, key: Self.otherKey)) == nil)
        directory.replace(with: snapshot(peers: [Fixture.laptop, Fixture.phone], keys: [Self.otherKey]))
        #expect(onKey.all == [.key(Self.acmeKey)])
        #expect(onOtherKey.all.isEmpty && idle.all.isEmpty)
    }

    @Test func aRequestThatHasEndedIsNotToldOfItsKey() throws {
        let directory = directory()
        let (ticket, inbox) = try enroll(directory, Fixture.laptop)
        #expect(directory.admit(ticket, Self.identity(Fixture.laptop, key: Self.acmeKey)) == nil)
        directory.release(ticket)
        directory.replace(with: snapshot(peers: [Fixture.laptop, Fixture.phone], keys: [Self.otherKey]))
        #expect(inbox.all.isEmpty)
    }

    @Test func aPeersEndCoversItsKeyAndIsToldOnce() throws {
        let directory = directory()
        let (ticket, inbox) = try enroll(directory, Fixture.laptop)
        #expect(directory.admit(ticket, Self.identity(Fixture.laptop, key: Self.acmeKey)) == nil)
        // `popctl tenant remove --force`: the peer and the key in one revision.
        directory.replace(with: snapshot(peers: [Fixture.phone], keys: [Self.otherKey]))
        #expect(inbox.all == [.peer(.revoked)])
    }

    @Test func aClosedConnectionIsToldNothing() throws {
        let directory = directory()
        let (ticket, inbox) = try enroll(directory, Fixture.laptop)
        directory.withdraw(ticket)
        directory.replace(with: snapshot(peers: [Fixture.phone], keys: []))
        #expect(inbox.all.isEmpty && directory.enrolledConnections == 0)
    }

    /// Authenticated against the old snapshot, admitted after the replacement: the replacement's
    /// notices went out before the request was enrolled, so the admission itself refuses it.
    @Test func aRequestAdmittedAcrossARevocationIsRefusedAtAdmission() throws {
        let directory = directory()
        let (laptop, _) = try enroll(directory, Fixture.laptop)
        let (phone, _) = try enroll(directory, Fixture.phone)
        directory.replace(with: snapshot(peers: [Fixture.phone], keys: [Self.acmeKey]))
        #expect(directory.admit(laptop, Self.identity(Fixture.laptop, key: Self.acmeKey)) == .peer(.revoked))
        #expect(directory.admit(phone, Self.identity(Fixture.phone, key: Self.otherKey)) == .key(Self.otherKey))
        #expect(directory.admit(phone, Self.identity(Fixture.phone, key: Self.acmeKey)) == nil)
    }

    /// The same key id with another secret, between the request's authentication and its admission:
    /// the request carries the old secret, so it is refused like a revoked key's.
    @Test func aKeyGivenAnotherSecretAcrossTheAdmissionIsRefused() throws {
        let directory = directory()
        let (ticket, _) = try enroll(directory, Fixture.laptop)
        let resecreted = RegistrySnapshot(
            revision: 2, peers: [Fixture.laptop, Fixture.phone],
            apiKeys: [Fixture.key(Self.acmeKey, secret: 2), Fixture.key(Self.otherKey)]
        )
        directory.replace(with: resecreted)
        #expect(directory.admit(ticket, Self.identity(Fixture.laptop, key: Self.acmeKey)) == .key(Self.acmeKey))
        let current = RequestIdentity(
            peer: Fixture.laptop, keyID: Self.acmeKey, defaultTier: .fast,
            keySecretHash: Fixture.key(Self.acmeKey, secret: 2).secretHash
        )
        #expect(directory.admit(ticket, current) == nil)
    }

    @Test func aNewPeerAtARevokedPeersAddressDoesNotInheritItsConnections() throws {
        let directory = directory()
        let (ticket, inbox) = try enroll(directory, Fixture.laptop)
        let successor = Fixture.peer(9, address: "10.77.0.2")
        directory.replace(with: snapshot(peers: [successor, Fixture.phone], keys: [Self.acmeKey]))
        #expect(inbox.all == [.peer(.revoked)])
        #expect(directory.admit(ticket, Self.identity(successor, key: Self.acmeKey)) == .peer(.revoked))
    }
}
