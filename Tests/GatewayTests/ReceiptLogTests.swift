import Foundation
import Logging
import NIOCore
import NIOPosix
import Receipts
import ServiceLifecycle
import Sodium
import Testing

@testable import Gateway

@Suite struct ReceiptLogTests {
    static func receipt(tenant: String, id: UInt64) -> Receipt {
        Receipt(
            id: ReceiptID(high: 42, low: id), session: ReceiptID(high: 1, low: 1), timeMicroseconds: 0, tenant: tenant,
            peer: [UInt8](repeating: 9, count: 32), model: "m", modelVersion: "", tier: "fast", backend: "b",
            status: 200, usage: .init(promptTokens: 3, completionTokens: 4)
        )
    }

    /// Runs `body` with a receipt log in a fresh directory, served by its writer thread, then stops it.
    static func withLog(
        _ directory: String, _ signer: NoteSigner, _ body: @Sendable (ReceiptLog) async throws -> Void
    ) async throws {
        let log = try ReceiptLog(directory: directory, signer: signer, checkpointInterval: .milliseconds(50), logger: Logger(label: "test"))
        let group = ServiceGroup(services: [log], logger: Logger(label: "test"))
        try await withThrowingTaskGroup(of: Void.self) { tasks in
            tasks.addTask { try await group.run() }
            try await body(log)
            await group.triggerGracefulShutdown()
            try await tasks.waitForAll()
        }
    }

    @Test func receiptsAreServedToTheirTenantOnlyWithAProofAndSurviveARestart() async throws {
        // tmpfs where there is one: see TileLogTests.temporaryDirectory (syncfs on the disk flushes the build's writes).
        let base = FileManager.default.fileExists(atPath: "/dev/shm") ? "/dev/shm/" : NSTemporaryDirectory()
        let directory = base + "receipt-log-\(UUID().uuidString)"
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let signer = try NoteSigner(name: "test.example/receipts", key: Ed25519PrivateKey())
        let loop = MultiThreadedEventLoopGroup.singleton.next()
        try await Self.withLog(directory, signer) { log in
            let acme = try log.append(Self.receipt(tenant: "acme", id: 1))
            let globex = try log.append(Self.receipt(tenant: "globex", id: 2))
            #expect((acme, globex) == (0, 1))
            // Generous: under `swift test`, CPU-bound suites can hold the cooperative threads that
            // start the checkpoint thread for seconds. Unstarved, the wait is one 50 ms interval.
            let api = ReceiptAPI(log: log, checkpointWait: .seconds(60))
            // The owner gets it, with a proof to a checkpoint that covers it (waited for).
            let body = try await api.answer(
                .one(ReceiptID(high: 42, low: 1).description), query: [:], tenant: "acme", on: loop
            ).get()
            let (receipt, checkpoint) = try ClientProofs.checkReceipt(Data(body), verifier: signer.verifier)
            #expect(receipt.tenant == "acme" && checkpoint.size >= 1 && receipt.timeMicroseconds > 0)
            // Another tenant is told it does not exist, as for an unknown id.
            await #expect(throws: OpenAIError.self) {
                try await api.answer(.one(ReceiptID(high: 42, low: 1).description), query: [:], tenant: "globex", on: loop).get()
            }
            let listed = try await api.answer(.list, query: [:], tenant: "globex", on: loop).get()
            let ids = try #require(JSONSerialization.jsonObject(with: Data(listed)) as? [String: Any])["data"] as? [[String: Any]]
            #expect(ids?.map { $0["id"] as? String } == [ReceiptID(high: 42, low: 2).description])
            #expect(log.isAvailable)
        }
        // Stopping signed a final checkpoint of both; reopening replays and indexes them.
        try await Self.withLog(directory, signer) { log in
            #expect(log.checkpoint.checkpoint.size == 2)
            #expect(log.index.locate(ReceiptID(high: 42, low: 2))?.index == 1)
        }
        #expect(LogAudit.verify(directory: directory, verifier: signer.verifier).problem == nil)
    }

    @Test func theTenantListStopsAtTheSignedSizeSoAPageNeverSkipsAReceipt() {
        let index = ReceiptIndex()
        var receipts: [(index: UInt64, receipt: Receipt)] = []
        for position in UInt64(0)..<10 {
            var receipt = Self.receipt(tenant: position % 2 == 0 ? "acme" : "globex", id: position)
            receipt.timeMicroseconds = 1000 * position
            receipts.append((position, receipt))
        }
        index.add(receipts)
        // acme holds 0, 2, 4, 6, 8; only those below the signed size 7 are listed.
        #expect(index.entries(tenant: "acme", fromIndex: 0, fromTime: 0, below: 7, limit: 10).map(\.index) == [0, 2, 4, 6])
        #expect(index.entries(tenant: "acme", fromIndex: 3, fromTime: 0, below: 10, limit: 2).map(\.index) == [4, 6])
        #expect(index.entries(tenant: "acme", fromIndex: 0, fromTime: 5000, below: 10, limit: 10).map(\.index) == [6, 8])
        #expect(index.entries(tenant: "nobody", fromIndex: 0, fromTime: 0, below: 10, limit: 10).isEmpty)
    }
}
