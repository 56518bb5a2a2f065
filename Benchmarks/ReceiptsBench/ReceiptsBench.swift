import ArgumentParser
import Foundation
import GRDB
import Gateway
import Logging
import NIOCore
import NIOPosix
import Receipts
import ServiceLifecycle
import Sodium

/// Measures popgated's receipt log on its own (``ReceiptLog``: the writer thread, the tiles, the
/// checkpoints) and, in the same run, the anchor: the same receipts as rows of an SQLite table in
/// WAL mode, which is how a gateway that keeps usage rows in a database stores them. Prints one
/// JSON object; Benchmarks/receipts.sh runs it several times and prints medians and ratios.
@main
struct ReceiptsBench: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "popgate-receipts-bench", abstract: "Benchmark the receipt log against SQLite rows."
    )

    @Option(help: "A directory for the logs (made if missing; emptied first).") var directory: String
    @Option(help: "Seconds per phase.") var seconds = 5.0
    @Option(help: "Threads appending at once in the throughput phase (default: one per core, as popgated has event loops).")
    var producers = System.coreCount
    @Option(help: "Checkpoint interval, ms (popgated's default).") var checkpointMs = 1000

    func run() async throws {
        try? FileManager.default.removeItem(atPath: directory)
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        var logger = Logger(label: "bench")
        logger.logLevel = .warning
        let log = try ReceiptLog(
            directory: "\(directory)/log", signer: NoteSigner(name: "bench.invalid/receipts", key: Ed25519PrivateKey()),
            checkpointInterval: .milliseconds(checkpointMs), logger: logger
        )
        let group = ServiceGroup(services: [log], logger: logger)
        var result: [String: Any] = [:]
        try await withThrowingTaskGroup(of: Void.self) { tasks in
            tasks.addTask { try await group.run() }
            let (appended, signed) = try await sustained(log)
            result["log_appended_per_s"] = appended
            result["log_sustained_per_s"] = signed
            let (written, checkpointed) = try await oneInFlight(log)
            result["log_write_p50_us"] = percentile(written, 0.5)
            result["log_write_p99_us"] = percentile(written, 0.99)
            result["log_to_checkpoint_p50_ms"] = percentile(checkpointed, 0.5) / 1000
            result["log_to_checkpoint_p99_ms"] = percentile(checkpointed, 0.99) / 1000
            await group.triggerGracefulShutdown()
            try await tasks.waitForAll()
        }
        let audit = LogAudit.verify(directory: "\(directory)/log", verifier: log.verifier)
        guard audit.valid else { throw ValidationError("the benchmark's log does not verify: \(audit.problem!)") }
        result["log_entries"] = audit.entries
        let (rows, commit) = try sqlite()
        result["sqlite_rows_per_s"] = rows
        result["sqlite_commit_p50_us"] = percentile(commit, 0.5)
        result["sqlite_commit_p99_us"] = percentile(commit, 0.99)
        let data = try JSONSerialization.data(withJSONObject: result, options: [.sortedKeys])
        print(String(decoding: data, as: UTF8.self))
    }

    static func receipt(_ number: UInt64) -> Receipt {
        Receipt(
            id: ReceiptID(high: 0x5eed, low: number), session: ReceiptID(high: 1, low: number / 16), timeMicroseconds: 0,
            tenant: "acme", peer: [UInt8](repeating: 0x42, count: 32), model: "popgate-sim-small", modelVersion: "2026-06",
            tier: "fast", backend: "sim-big", status: 200, usage: .init(promptTokens: 12, completionTokens: 345)
        )
    }

    /// Receipts per second with `producers` threads appending at once, as event loops do: counted
    /// until a signed checkpoint covers the last of them, so a checkpoint thread that falls behind
    /// lowers the figure (appends alone would outrun it).
    private func sustained(_ log: ReceiptLog) async throws -> (appended: Double, signed: Double) {
        let started = ContinuousClock.now
        let end = started + .milliseconds(Int(seconds * 1000))
        let (count, last) = try await withThrowingTaskGroup(of: (Int, UInt64).self) { tasks in
            for producer in 0..<producers {
                tasks.addTask {
                    var done = 0
                    var last: UInt64 = 0
                    var number = UInt64(producer) << 40
                    while ContinuousClock.now < end {
                        number += 1
                        last = max(last, try log.append(Self.receipt(number)))
                        done += 1
                    }
                    return (done, last)
                }
            }
            return try await tasks.reduce((0, 0)) { ($0.0 + $1.0, max($0.1, $1.1)) }
        }
        let appendedIn = ContinuousClock.now - started
        let loop = MultiThreadedEventLoopGroup.singleton.next()
        _ = try await log.checkpoint(covering: last, on: loop, timeout: .seconds(120)).get()
        let signedIn = ContinuousClock.now - started
        return (Double(count) / appendedIn.seconds, Double(count) / signedIn.seconds)
    }

    /// One append at a time on an event loop, as a request's end waits for it: µs until written,
    /// and until a checkpoint covering it is signed.
    private func oneInFlight(_ log: ReceiptLog) async throws -> ([Double], [Double]) {
        let loop = MultiThreadedEventLoopGroup.singleton.next()
        let end = ContinuousClock.now + .milliseconds(Int(seconds * 1000))
        let done = loop.makePromise(of: ([Double], [EventLoopFuture<Double>]).self)
        loop.execute {
            var written: [Double] = []
            var checkpointed: [EventLoopFuture<Double>] = []
            var number = UInt64(1) << 50
            func next() {
                guard ContinuousClock.now < end else { return done.succeed((written, checkpointed)) }
                number += 1
                let start = ContinuousClock.now
                let index: UInt64
                do {
                    index = try log.append(Self.receipt(number))
                } catch {
                    return done.fail(error)
                }
                written.append((ContinuousClock.now - start).microseconds)
                // When the checkpoint is signed, not when anyone gets to look.
                checkpointed.append(
                    log.checkpoint(covering: index, on: loop, timeout: .seconds(10)).map { _ in
                        (ContinuousClock.now - start).microseconds
                    }
                )
                // A request every 2 ms: a busy connection, not a flood.
                loop.assumeIsolated().scheduleTask(in: .milliseconds(2)) { next() }
            }
            next()
        }
        let (written, checkpointed) = try await done.futureResult.get()
        var signed: [Double] = []
        for future in checkpointed { signed.append(try await future.get()) }
        return (written, signed)
    }

    /// The anchor: the same receipts as rows, WAL mode, synchronous=NORMAL (durable when the process
    /// dies, as the receipt log's writes are); batches of 256 per transaction, then one row per
    /// transaction for the commit latency.
    private func sqlite() throws -> (Double, [Double]) {
        var configuration = Configuration()
        configuration.prepareDatabase { db in
            try db.execute(sql: "PRAGMA journal_mode = WAL; PRAGMA synchronous = NORMAL")
        }
        let queue = try DatabaseQueue(path: "\(directory)/anchor.sqlite", configuration: configuration)
        try queue.write { db in
            try db.execute(sql: """
                CREATE TABLE receipts (id BLOB PRIMARY KEY, tenant TEXT NOT NULL, time INTEGER NOT NULL, entry BLOB NOT NULL)
                """)
        }
        let insert = "INSERT INTO receipts (id, tenant, time, entry) VALUES (?, ?, ?, ?)"
        var number: UInt64 = 0
        func row(_ db: Database) throws {
            number += 1
            var receipt = Self.receipt(number)
            receipt.timeMicroseconds = number
            try db.execute(
                sql: insert,
                arguments: [Data(receipt.id.bytes), receipt.tenant, Int64(number), Data(ReceiptEncoding.encode(receipt))]
            )
        }
        let started = ContinuousClock.now
        var end = started + .milliseconds(Int(seconds * 1000))
        while ContinuousClock.now < end {
            try queue.write { db in for _ in 0..<256 { try row(db) } }
        }
        let rate = Double(number) / (ContinuousClock.now - started).seconds
        var commits: [Double] = []
        end = ContinuousClock.now + .milliseconds(Int(seconds * 1000))
        while ContinuousClock.now < end {
            let start = ContinuousClock.now
            try queue.write { db in try row(db) }
            commits.append((ContinuousClock.now - start).microseconds)
            Thread.sleep(forTimeInterval: 0.002)
        }
        return (rate, commits)
    }
}

func percentile(_ values: [Double], _ p: Double) -> Double {
    guard !values.isEmpty else { return 0 }
    let sorted = values.sorted()
    return sorted[min(sorted.count - 1, Int(Double(sorted.count) * p))]
}

extension Duration {
    var seconds: Double { Double(components.seconds) + Double(components.attoseconds) * 1e-18 }
    var microseconds: Double { seconds * 1e6 }
}
