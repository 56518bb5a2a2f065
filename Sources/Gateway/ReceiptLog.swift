import Foundation
import Logging
import NIOCore
import Receipts
import ServiceLifecycle

/// popgated's receipt log: receipts are appended by one writer thread, in batches, and a
/// checkpoint covering them is signed within the configured interval.
///
/// A request's receipt is handed over with ``append(_:on:)`` when it ends; the future completes
/// once the receipt is written (it then survives popgated being killed, see ``TileLogWriter``),
/// and only then does the client get the end of its answer. A batch is whatever waits when the
/// writer is free (one `write(2)` to the journal): under load batches grow, idle a receipt is
/// written alone at once. The tiles are written when a checkpoint is signed. When writing fails (disk full, permissions) the log is marked
/// unavailable, the gateway answers new requests 503, and the writer probes the directory once
/// a second until it can write again.
public final class ReceiptLog: Service, @unchecked Sendable {
    /// The key that verifies the log's checkpoints.
    public let verifier: NoteVerifier
    /// The log's files, read by the receipt API.
    let reader: TileLogReader
    let index = ReceiptIndex()
    public let directory: String

    private let writer: TileLogWriter  // the writer thread's alone, after init
    /// At most this many receipts go into one journal write.
    private static let largestBatch = 4096
    private let interval: Duration
    private let logger: Logger

    // Guarded by `condition`.
    private let condition = NSCondition()
    private var pending: [Pending] = []
    private var stopping = false
    private var latest: SignedCheckpoint
    private var available = true
    private var waiters: [Int: Waiter] = [:]
    private var nextWaiter = 0
    private var exited: CheckedContinuation<Void, Never>?
    private var hasExited = false
    private var lastTime: UInt64 = 0
    private var written: UInt64 = 0

    private struct Pending {
        let entry: [UInt8]
        let receipt: Receipt
        let promise: EventLoopPromise<UInt64>
    }

    private struct Waiter {
        let index: UInt64
        let promise: EventLoopPromise<SignedCheckpoint>
    }

    /// Opens (or makes) the log: replays and checks it (``TileLogWriter``), and indexes its receipts.
    public init(directory: String, signer: NoteSigner, checkpointInterval: Duration, logger: Logger) throws {
        let index = self.index
        var undecodable = 0
        var lastTime: UInt64 = 0
        writer = try TileLogWriter(directory: directory, signer: signer) { position, entry in
            guard let receipt = try? ReceiptEncoding.decode(entry) else {
                undecodable += 1
                return
            }
            index.add([(position, receipt)])
            lastTime = max(lastTime, receipt.timeMicroseconds)
        }
        self.lastTime = lastTime
        written = writer.size
        for repair in writer.repairs { logger.warning("receipt log repaired", metadata: ["repair": "\(repair)"]) }
        if undecodable > 0 {
            logger.warning("receipt log holds entries that are not receipts", metadata: ["entries": "\(undecodable)"])
        }
        self.directory = directory
        verifier = signer.verifier
        reader = TileLogReader(directory: directory)
        interval = checkpointInterval
        self.logger = logger
        latest = writer.checkpoint
        logger.info("receipt log open", metadata: [
            "receipts.directory": "\(directory)", "receipts.size": "\(writer.size)", "receipts.verifier": "\(verifier)",
        ])
    }

    /// Whether receipts can be written now; while not, new requests are refused with 503.
    public var isAvailable: Bool {
        condition.withLock { available }
    }

    /// For the metrics: whether receipts can be written, how many are, how many are signed.
    public var state: (available: Bool, written: UInt64, checkpointed: UInt64) {
        condition.withLock { (available, written, latest.checkpoint.size) }
    }

    /// The latest signed checkpoint.
    public var checkpoint: SignedCheckpoint {
        condition.withLock { latest }
    }

    /// Hands a receipt to the writer, stamped with the time; the future gives its index once it
    /// is written, or fails when it cannot be.
    public func append(_ receipt: Receipt, on eventLoop: any EventLoop) -> EventLoopFuture<UInt64> {
        let promise = eventLoop.makePromise(of: UInt64.self)
        let accepted = condition.withLock {
            guard available, !stopping else { return false }
            // Stamped here, in the order entries are queued, so times never go back along the
            // log (popaudit checks that).
            var receipt = receipt
            receipt.timeMicroseconds = max(Self.now(), lastTime)
            lastTime = receipt.timeMicroseconds
            pending.append(Pending(entry: ReceiptEncoding.encode(receipt), receipt: receipt, promise: promise))
            condition.signal()
            return true
        }
        if !accepted { promise.fail(ReceiptLogError("the receipt log \(directory) cannot be written")) }
        return promise.futureResult
    }

    /// The first checkpoint whose tree holds entry `index`: at once when the latest does, else
    /// when the next is signed; fails after `timeout`.
    public func checkpoint(covering index: UInt64, on eventLoop: any EventLoop, timeout: TimeAmount) -> EventLoopFuture<SignedCheckpoint> {
        let promise = eventLoop.makePromise(of: SignedCheckpoint.self)
        let id: Int? = condition.withLock {
            if latest.checkpoint.size > index { return nil }
            nextWaiter += 1
            waiters[nextWaiter] = Waiter(index: index, promise: promise)
            return nextWaiter
        }
        guard let id else {
            promise.succeed(checkpoint)
            return promise.futureResult
        }
        eventLoop.scheduleTask(in: timeout) { [self] in
            // Whoever removes the waiter completes it, so it is completed once.
            if let waiter = condition.withLock({ waiters.removeValue(forKey: id) }) {
                waiter.promise.fail(ReceiptLogError("no checkpoint covering entry \(index) was signed in time"))
            }
        }
        return promise.futureResult
    }

    /// Microseconds since the Unix epoch.
    private static func now() -> UInt64 {
        var now = timespec()
        clock_gettime(CLOCK_REALTIME, &now)
        return UInt64(now.tv_sec) * 1_000_000 + UInt64(now.tv_nsec / 1000)
    }

    // MARK: The service

    public func run() async throws {
        let thread = Thread { [self] in writeLoop() }
        thread.name = "receipt-writer"
        thread.start()
        // Until popgated stops (SIGTERM) or the group is cancelled; then the last receipts are
        // written and a final checkpoint signed before run returns.
        try? await gracefulShutdown()
        await withCheckedContinuation { continuation in
            condition.withLock {
                stopping = true
                condition.signal()
                if hasExited { continuation.resume() } else { exited = continuation }
            }
        }
    }

    private func writeLoop() {
        var nextCheckpoint = ContinuousClock.now + interval
        var nextProbe = ContinuousClock.now
        while true {
            let needsCheckpoint = writer.size != writer.checkpoint.checkpoint.size
            condition.lock()
            while pending.isEmpty && !stopping {
                let wake = !available ? nextProbe : needsCheckpoint ? nextCheckpoint : nil
                guard let wake else {
                    condition.wait()
                    continue
                }
                let left = wake - ContinuousClock.now
                if left <= .zero { break }
                _ = condition.wait(until: Date(timeIntervalSinceNow: Double(left.components.seconds) + Double(left.components.attoseconds) * 1e-18))
            }
            let batch = Array(pending.prefix(Self.largestBatch))
            pending.removeFirst(batch.count)
            let stop = stopping && pending.isEmpty
            let isAvailable = available
            condition.unlock()

            if !batch.isEmpty { write(batch) }
            let now = ContinuousClock.now
            if !isAvailable && now >= nextProbe {
                probe()
                nextProbe = now + .seconds(1)
            }
            if now >= nextCheckpoint || stop {
                signCheckpoint()
                nextCheckpoint = now + interval
            }
            if stop { break }
        }
        writer.close()
        condition.withLock {
            hasExited = true
            exited?.resume()
            exited = nil
        }
    }

    private func write(_ batch: [Pending]) {
        do {
            let first = try writer.append(batch.map(\.entry))
            index.add(batch.enumerated().map { (first + UInt64($0.offset), $0.element.receipt) })
            condition.withLock { written = first + UInt64(batch.count) }
            for (offset, item) in batch.enumerated() { item.promise.succeed(first + UInt64(offset)) }
        } catch {
            markUnavailable(error)
            for item in batch { item.promise.fail(error) }
        }
    }

    private func signCheckpoint() {
        do {
            guard try writer.signCheckpoint() else { return }
        } catch {
            return markUnavailable(error)
        }
        let signed = writer.checkpoint
        let ready: [Waiter] = condition.withLock {
            latest = signed
            let due = waiters.filter { $0.value.index < signed.checkpoint.size }
            for key in due.keys { waiters.removeValue(forKey: key) }
            return Array(due.values)
        }
        for waiter in ready { waiter.promise.succeed(signed) }
    }

    /// Tries a small synced write in the directory; on success the log takes receipts again.
    private func probe() {
        let path = "\(directory)/.probe"
        do {
            try LogProbe.write(path)
            condition.withLock { available = true }
            logger.notice("receipt log writable again; requests are served", metadata: ["receipts.directory": "\(directory)"])
        } catch {
            // Still failing: stay unavailable, try again in a second.
        }
    }

    private func markUnavailable(_ error: any Error) {
        let wasAvailable = condition.withLock {
            defer { available = false }
            return available
        }
        if wasAvailable {
            logger.error(
                "receipts cannot be written; new requests get 503 until they can",
                metadata: ["receipts.directory": "\(directory)", "error": "\(error)"]
            )
        }
    }
}
