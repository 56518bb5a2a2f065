import Foundation

/// A receipt as the API and popaudit show it. The binary entry is what is signed; this is only
/// its readable form.
public struct ReceiptJSON: Codable, Equatable, Sendable {
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
    }

    public init(_ receipt: Receipt) {
        version = Int(Receipt.version)
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
        usage = receipt.usage.map { Usage(promptTokens: $0.promptTokens, completionTokens: $0.completionTokens) }
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
