import Logging

/// A log handler that hands every record to a stream, so a test can await the line it expects
/// instead of guessing how long the server needs to write it.
struct LogCapture: LogHandler {
    /// One log line: its message and its metadata, values as strings.
    struct Record: Sendable {
        var message: String
        var metadata: [String: String]
    }

    /// A logger writing to a fresh capture, and the stream of what it writes.
    static func make() -> (logger: Logger, records: AsyncStream<Record>) {
        let (records, continuation) = AsyncStream<Record>.makeStream()
        let logger = Logger(label: "inference-sim-test") { _ in LogCapture(continuation: continuation) }
        return (logger, records)
    }

    let continuation: AsyncStream<Record>.Continuation
    var metadata: Logger.Metadata = [:]
    var metadataProvider: Logger.MetadataProvider?
    var logLevel: Logger.Level = .trace

    subscript(metadataKey key: String) -> Logger.Metadata.Value? {
        get { metadata[key] }
        set { metadata[key] = newValue }
    }

    func log(event: LogEvent) {
        let merged = metadata.merging(event.metadata ?? [:]) { $1 }
        continuation.yield(Record(message: event.message.description, metadata: merged.mapValues { "\($0)" }))
    }
}

extension AsyncStream<LogCapture.Record> {
    /// The first record with `message` still to come; nil if the stream ends first.
    func first(message: String) async -> LogCapture.Record? {
        await first { $0.message == message }
    }
}
