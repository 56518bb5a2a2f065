import Logging

/// A request's logger: what is known about the request is gathered here and handed to the log
/// handler with each line, rather than set on the `Logger` (swift-log's stream handler renders
/// its metadata anew on every change, which cost more than the line itself).
struct RequestLog {
    let logger: Logger
    private var metadata: Logger.Metadata = [:]

    init(_ logger: Logger) {
        self.logger = logger
        // Room for every field a request's lines carry, so the table is never grown and rehashed.
        metadata.reserveCapacity(16)
    }

    subscript(metadataKey key: String) -> Logger.MetadataValue? {
        get { metadata[key] }
        set { metadata[key] = newValue }
    }

    func info(_ message: @autoclosure () -> Logger.Message, metadata extra: Logger.Metadata = [:]) {
        log(.info, message(), extra)
    }

    func warning(_ message: @autoclosure () -> Logger.Message, metadata extra: Logger.Metadata = [:]) {
        log(.warning, message(), extra)
    }

    private func log(_ level: Logger.Level, _ message: @autoclosure () -> Logger.Message, _ extra: Logger.Metadata) {
        guard logger.logLevel <= level else { return }
        logger.log(level: level, message(), metadata: extra.isEmpty ? metadata : metadata.merging(extra) { $1 })
    }
}
