import Foundation
import Logging
import NIOCore
import Receipts
import ServiceLifecycle

/// popgated's receipt log: each request's receipt is appended to the log's journal on the event
/// loop where the request ends, and a thread of its own signs a checkpoint covering new receipts
/// within the configured interval.
///
/// ``append(_:)`` returns once the receipt is written: one `write(2)` to the journal (it then
/// survives popgated being killed, see ``TileLogWriter``), and only then does the client get the
/// end of its answer. Like NGINX's access log, the write is made on the event loop: it goes to the
/// page cache, and a hop to another thread and back cost more than the write. When writing fails
/// (disk full, permissions) the log is marked unavailable, the gateway answers new requests 503,
/// and the checkpoint thread probes the directory once a second until it can write again.
public final class ReceiptLog: Service, @unchecked Sendable {
    /// The key that verifies the log's checkpoints.
    public let verifier: NoteVerifier
    /// The log's files, read by the receipt API.
    let reader: TileLogReader
    let index = ReceiptIndex()
    public let directory: String

    private let writer: TileLogWriter
    private let interval: Duration
    private let logger: Logger

    // Guarded by `condition`.
    private let condition = NSCondition()
    private var stopping = false
    private var latest: SignedCheckpoint
    private var available = true
    private var waiters: [Int: Waiter] = [:]
    private var nextWaiter = 0
    private var exited: CheckedContinuation<Void, Never>?
    private var hasExited = false
    private var lastTime: UInt64 = 0
    private var written: UInt64 = 0

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

    /// Writes a receipt, stamped with the time; returns its index in the log. Throws when it
    /// cannot be written (and the log is then unavailable until a probe succeeds).
    @discardableResult
    public func append(_ receipt: Receipt) throws -> UInt64 {
        var failedNow = false
        let outcome: Result<UInt64, any Error> = condition.withLock {
            guard available, !stopping else {
                return .failure(ReceiptLogError("the receipt log \(directory) cannot be written"))
            }
            // Stamped under the lock that orders the journal, so times never go back along the
            // log (popaudit checks that).
            var receipt = receipt
            receipt.timeMicroseconds = max(Self.now(), lastTime)
            lastTime = receipt.timeMicroseconds
            do {
                let position = try writer.append([ReceiptEncoding.encode(receipt)])
                index.add([(position, receipt)])
                written = position + 1
                return .success(position)
            } catch {
                available = false
                failedNow = true
                return .failure(error)
            }
        }
        if failedNow, case .failure(let error) = outcome {
            logger.error(
                "receipts cannot be written; new requests get 503 until they can",
                metadata: ["receipts.directory": "\(directory)", "error": "\(error)"]
            )
        }
        return try outcome.get()
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
                waiter.promise.fail(CheckpointNotYetSigned(index: index))
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
        let thread = Thread { [self] in checkpointLoop() }
        thread.name = "receipt-checkpoints"
        thread.start()
        // Until popgated stops (SIGTERM) or the group is cancelled; then a final checkpoint is
        // signed before run returns.
        try? await gracefulShutdown()
        await withCheckedContinuation { continuation in
            condition.withLock {
                stopping = true
                condition.signal()
                if hasExited { continuation.resume() } else { exited = continuation }
            }
        }
    }

    /// Signs a checkpoint each interval while receipts were added; probes an unavailable log each second.
    private func checkpointLoop() {
        var nextCheckpoint = ContinuousClock.now + interval
        while true {
            condition.lock()
            while !stopping {
                let left = nextCheckpoint - ContinuousClock.now
                if left <= .zero { break }
                let seconds = Double(left.components.seconds) + Double(left.components.attoseconds) * 1e-18
                _ = condition.wait(until: Date(timeIntervalSinceNow: seconds))
            }
            let stop = stopping
            let isAvailable = available
            condition.unlock()

            if !isAvailable { probe() }
            signCheckpoint()
            nextCheckpoint = ContinuousClock.now + (isAvailable ? interval : min(interval, .seconds(1)))
            if stop { break }
        }
        writer.close()
        condition.withLock {
            hasExited = true
            exited?.resume()
            exited = nil
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
        do {
            try LogProbe.write("\(directory)/.probe")
        } catch {
            return  // still failing: stay unavailable, try again in a second
        }
        condition.withLock { available = true }
        logger.notice("receipt log writable again; requests are served", metadata: ["receipts.directory": "\(directory)"])
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

/// No checkpoint covering an entry was signed within the time a caller would wait.
public struct CheckpointNotYetSigned: Error, Sendable {
    public let index: UInt64
}
