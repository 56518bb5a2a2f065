import Foundation

/// A receipt as the API and popaudit show it. The binary entry is what is signed; this is only
/// its readable form.
public struct ReceiptJSON: Codable, Equatable, Sendable {
    /// The receipt's own encoding version (``Receipt/version``): 1 or 2.
    public let version: Int
    public let id: String
    public let session: String
    public let time: String
    public let timeMicroseconds: UInt64
    public let tenant: String
    /// The WireGuard public key, base64.
    public let peer: String
    public let model: String
    public let modelVersion: String
    public let tier: String
    public let backend: String
    public let status: Int
    public let usage: Usage?

    public struct Usage: Codable, Equatable, Sendable {
        public let promptTokens: UInt32
        public let completionTokens: UInt32
        /// `"reported"` (by the worker) or `"counted"` (by the gateway).
        public let source: UsageSource

        init(_ usage: Receipt.Usage) {
            promptTokens = usage.promptTokens
            completionTokens = usage.completionTokens
            // A version-1 receipt says "reported": version 1 only ever held the worker's report, so decoding
            // gives it no other source, and encoding refuses a version-1 receipt with counted usage.
            source = usage.source
        }

        public init(from decoder: any Decoder) throws {
            let container = try decoder.container(keyedBy: CodingKeys.self)
            promptTokens = try container.decode(UInt32.self, forKey: .promptTokens)
            completionTokens = try container.decode(UInt32.self, forKey: .completionTokens)
            // Receipt files fetched before version 2 have no source; what they hold was reported.
            let text = try container.decodeIfPresent(String.self, forKey: .source) ?? UsageSource.reported.rawValue
            guard let source = UsageSource(rawValue: text) else {
                throw DecodingError.dataCorruptedError(
                    forKey: .source, in: container,
                    debugDescription: "the usage source \"\(text)\" is neither \"reported\" nor \"counted\""
                )
            }
            self.source = source
        }

        public func encode(to encoder: any Encoder) throws {
            var container = encoder.container(keyedBy: CodingKeys.self)
            try container.encode(promptTokens, forKey: .promptTokens)
            try container.encode(completionTokens, forKey: .completionTokens)
            try container.encode(source.rawValue, forKey: .source)
        }

        enum CodingKeys: String, CodingKey {
            case promptTokens, completionTokens, source
        }
    }

    public init(_ receipt: Receipt) {
        version = Int(receipt.version)
        id = receipt.id.description
        session = receipt.session.description.replacingOccurrences(of: "rcpt_", with: "sess_")
        time = receipt.timeText
        timeMicroseconds = receipt.timeMicroseconds
        tenant = receipt.tenant
        peer = Data(receipt.peer).base64EncodedString()
        model = receipt.model
        modelVersion = receipt.modelVersion
        tier = receipt.tier
        backend = receipt.backend
        status = Int(receipt.status)
        usage = receipt.usage.map(Usage.init)
    }

    public func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: CodingKeys.self)
        try container.encode(version, forKey: .version)
        try container.encode(id, forKey: .id)
        try container.encode(session, forKey: .session)
        try container.encode(time, forKey: .time)
        try container.encode(timeMicroseconds, forKey: .timeMicroseconds)
        try container.encode(tenant, forKey: .tenant)
        try container.encode(peer, forKey: .peer)
        try container.encode(model, forKey: .model)
        try container.encode(modelVersion, forKey: .modelVersion)
        try container.encode(tier, forKey: .tier)
        try container.encode(backend, forKey: .backend)
        try container.encode(status, forKey: .status)
        try container.encode(usage, forKey: .usage)  // explicit null: the worker reported none
    }

    enum CodingKeys: String, CodingKey {
        case version, id, session, time, timeMicroseconds, tenant, peer, model, modelVersion, tier, backend, status, usage
    }
}
