import Foundation
import Sodium

/// A receipt's id: the request's 128 random bits. Clients see it as `rcpt_` and 32 hex digits.
public struct ReceiptID: Hashable, Sendable, CustomStringConvertible {
    public let high: UInt64
    public let low: UInt64

    public init(high: UInt64, low: UInt64) {
        self.high = high
        self.low = low
    }

    /// From 16 bytes, big-endian.
    public init?(bytes: some Collection<UInt8>) {
        guard bytes.count == 16 else { return nil }
        let array = Array(bytes)
        high = array[0..<8].reduce(0) { $0 << 8 | UInt64($1) }
        low = array[8..<16].reduce(0) { $0 << 8 | UInt64($1) }
    }

    /// Parses `rcpt_` and 32 hex digits (the prefix may be left out).
    public init?(_ text: some StringProtocol) {
        let hex = text.hasPrefix("rcpt_") ? String(text.dropFirst(5)) : String(text)
        guard hex.utf8.count == 32, let bytes = Hex.decode(hex) else { return nil }
        self.init(bytes: bytes)
    }

    public var bytes: [UInt8] {
        withUnsafeBytes(of: high.bigEndian) { Array($0) } + withUnsafeBytes(of: low.bigEndian) { Array($0) }
    }

    public var description: String { "rcpt_" + Hex.encode(bytes) }
}

/// What the PoP served for one request, without any of its content: who asked (tenant and
/// WireGuard peer), when, for what model and tier, where it ran, how it ended, and the tokens it
/// used. One leaf of the receipt log.
public struct Receipt: Sendable, Equatable {
    /// The encoding version new receipts are written in. Version 2 added ``UsageSource``; version 1
    /// receipts in existing logs are still read (``ReceiptEncoding``).
    public static let currentVersion: UInt8 = 2

    /// The encoding version this receipt was written in (1 or 2); new receipts are
    /// `Receipt.currentVersion` (2).
    ///
    /// A decoded receipt keeps the version it was read in, so that it re-encodes to the very bytes the
    /// log hashed. Version 1 holds only reported usage: ``ReceiptEncoding/encode(_:)`` stops on a
    /// version-1 receipt whose usage is ``UsageSource/counted``.
    public var version: UInt8
    public var id: ReceiptID
    /// The client connection the request came on: requests kept alive on one connection share it.
    public var session: ReceiptID
    /// When the request ended, in microseconds since the Unix epoch (UTC).
    public var timeMicroseconds: UInt64
    public var tenant: String
    /// The peer's WireGuard public key (32 bytes).
    public var peer: [UInt8]
    /// The model asked for ("" when the request named none or one no backend serves: a name the PoP does
    /// not know is the client's own text, and stays off the disk).
    public var model: String
    /// The backend's configured revision of that model ("" when none is configured).
    public var modelVersion: String
    public var tier: String
    /// The backend that answered ("" when none did).
    public var backend: String
    /// The HTTP status the client was given (499 when it left before the answer ended).
    public var status: UInt16
    /// The tokens used, when known: reported by the worker, or counted by the gateway (``Usage/source``).
    public var usage: Usage?

    /// Token counts, and who produced them.
    public struct Usage: Sendable, Equatable {
        public var promptTokens: UInt32
        public var completionTokens: UInt32
        /// Whether the worker reported these counts or the gateway counted them.
        public var source: UsageSource

        public init(promptTokens: UInt32, completionTokens: UInt32, source: UsageSource = .reported) {
            self.promptTokens = promptTokens
            self.completionTokens = completionTokens
            self.source = source
        }
    }

    public init(
        id: ReceiptID, session: ReceiptID, timeMicroseconds: UInt64, tenant: String, peer: [UInt8], model: String,
        modelVersion: String, tier: String, backend: String, status: UInt16, usage: Usage?,
        version: UInt8 = Receipt.currentVersion
    ) {
        self.version = version
        self.id = id
        self.session = session
        self.timeMicroseconds = timeMicroseconds
        self.tenant = tenant
        self.peer = peer
        self.model = model
        self.modelVersion = modelVersion
        self.tier = tier
        self.backend = backend
        self.status = status
        self.usage = usage
    }

    /// The time as RFC 3339 with microseconds, UTC.
    public var timeText: String {
        let seconds = time_t(timeMicroseconds / 1_000_000)
        var parts = tm()
        var copy = seconds
        gmtime_r(&copy, &parts)
        return String(
            format: "%04d-%02d-%02dT%02d:%02d:%02d.%06dZ", Int(parts.tm_year) + 1900, Int(parts.tm_mon) + 1,
            Int(parts.tm_mday), Int(parts.tm_hour), Int(parts.tm_min), Int(parts.tm_sec), Int(timeMicroseconds % 1_000_000)
        )
    }
}

/// Where a receipt's token counts came from.
public enum UsageSource: String, Sendable, Equatable, CaseIterable {
    /// The worker's own usage report, at the end of its answer.
    case reported
    /// The gateway's count of the content events it relayed: the stream was cut short (the client
    /// hung up, the worker failed, the key was revoked, the gateway drained) before the worker
    /// reported usage. These are the gateway's figures, not the worker's.
    case counted
}
