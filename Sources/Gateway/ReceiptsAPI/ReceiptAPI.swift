import Foundation
import NIOCore
import NIOHTTP1
import Receipts

/// The receipt endpoints, for the tenant of an authenticated request:
///
/// - `GET /v1/receipts/{id}`: one of the tenant's receipts, its index, its inclusion proof and the
///   signed checkpoint the proof leads to (waiting for the next checkpoint when the receipt is
///   newer than the latest): everything `popaudit check-receipt` needs, offline.
/// - `GET /v1/receipts?from_index=&from_time=&limit=`: the tenant's receipts in log order, once a
///   checkpoint covers them.
/// - `GET /v1/receipts/checkpoint`: the latest signed checkpoint.
/// - `GET /v1/receipts/consistency?from=N&to=M`: the proof that the tree of M entries extends the
///   tree of N.
///
/// Another tenant's receipt is answered exactly as one that does not exist.
struct ReceiptAPI {
    enum Route: Equatable {
        case one(String)
        case list
        case checkpoint
        case consistency
    }

    static func route(path: String) -> Route? {
        if path == "/v1/receipts" { return .list }
        guard path.hasPrefix("/v1/receipts/") else { return nil }
        let rest = String(path.dropFirst("/v1/receipts/".count))
        switch rest {
        case "checkpoint": return .checkpoint
        case "consistency": return .consistency
        case "": return nil
        default: return rest.contains("/") ? nil : .one(rest)
        }
    }

    let log: ReceiptLog
    /// How long a request for a receipt not yet in a checkpoint waits for the next one.
    let checkpointWait: TimeAmount

    /// The JSON answer, or the error to give.
    func answer(_ route: Route, query: [String: String], tenant: String, on eventLoop: any EventLoop)
        -> EventLoopFuture<[UInt8]>
    {
        do {
            switch route {
            case .one(let text):
                return try receipt(text, tenant: tenant, on: eventLoop)
            case .list:
                return eventLoop.makeSucceededFuture(try list(query: query, tenant: tenant))
            case .checkpoint:
                let latest = log.checkpoint
                return eventLoop.makeSucceededFuture(Self.json(CheckpointAnswer(
                    treeSize: latest.checkpoint.size, rootHash: latest.checkpoint.root.base64, checkpoint: latest.note,
                    origin: latest.checkpoint.origin, verifierKey: log.verifier.description
                )))
            case .consistency:
                return eventLoop.makeSucceededFuture(try consistency(query: query))
            }
        } catch {
            return eventLoop.makeFailedFuture(error)
        }
    }

    private func receipt(_ text: String, tenant: String, on eventLoop: any EventLoop) throws -> EventLoopFuture<[UInt8]> {
        guard let id = ReceiptID(text) else {
            throw OpenAIError(
                status: .badRequest, message: "'\(text.prefix(80))' is not a receipt id (rcpt_ and 32 hex digits, from X-Receipt-Id).",
                code: "invalid_receipt_id"
            )
        }
        guard let located = log.index.locate(id), located.tenant == tenant else {
            throw OpenAIError(status: .notFound, message: "No receipt \(id) for this tenant.", code: "receipt_not_found")
        }
        let reader = log.reader
        // Its bundle and tiles are on disk once a checkpoint covers it.
        return log.checkpoint(covering: located.index, on: eventLoop, timeout: checkpointWait).flatMapThrowing { signed in
            guard let entry = try reader.entry(located.index) else {
                throw ReceiptLogError("entry \(located.index) is not in the log's bundles")
            }
            let size = signed.checkpoint.size
            let proof = try InclusionProof.make(index: located.index, size: size, from: reader)
            return Self.json(ReceiptAnswer(
                id: id.description, receipt: try ReceiptJSON(ReceiptEncoding.decode(entry)), entry: Data(entry).base64EncodedString(),
                leafIndex: located.index, treeSize: size, inclusionProof: proof.map(\.base64), checkpoint: signed.note
            ))
        }.flatMapErrorThrowing { error in
            guard error is CheckpointNotYetSigned else { throw error }
            throw OpenAIError(
                status: .serviceUnavailable, message: "The receipt is written but not yet in a signed checkpoint; retry in a second.",
                type: "server_error", code: "receipt_pending"
            )
        }
    }

    private func list(query: [String: String], tenant: String) throws -> [UInt8] {
        let fromIndex = try Self.number(query, "from_index", default: 0)
        let fromTime = try Self.number(query, "from_time", default: 0)
        let limit = try Self.number(query, "limit", default: 100)
        guard (1...1000).contains(limit) else { throw Self.badParameter("limit", "must be from 1 to 1000") }
        // Receipts are listed once a checkpoint covers them (within a second): their bundles are on disk then.
        let signed = log.checkpoint.checkpoint.size
        let fromMicroseconds = fromTime.multipliedReportingOverflow(by: 1_000_000)
        let found = log.index.entries(
            tenant: tenant, fromIndex: fromIndex, fromTime: fromMicroseconds.overflow ? .max : fromMicroseconds.partialValue,
            below: signed, limit: Int(limit)
        )
        var bundles: [UInt64: [[UInt8]]] = [:]
        var data: [ListedReceipt] = []
        for entry in found {
            let bundle = entry.index / UInt64(TilePath.width)
            if bundles[bundle] == nil { bundles[bundle] = try log.reader.bundle(bundle) }
            let entries = bundles[bundle]!
            let offset = Int(entry.index % UInt64(TilePath.width))
            guard offset < entries.count, let receipt = try? ReceiptEncoding.decode(entries[offset]) else { continue }
            data.append(ListedReceipt(id: receipt.id.description, leafIndex: entry.index, receipt: ReceiptJSON(receipt)))
        }
        let next = found.count == Int(limit) ? found.last.map { $0.index + 1 } : nil
        return Self.json(ListAnswer(data: data, nextFromIndex: next))
    }

    private func consistency(query: [String: String]) throws -> [UInt8] {
        let latest = log.checkpoint
        let from = try Self.number(query, "from", default: nil)
        let to = try Self.number(query, "to", default: latest.checkpoint.size)
        guard to <= latest.checkpoint.size else {
            throw Self.badParameter("to", "is past the latest checkpoint's size \(latest.checkpoint.size)")
        }
        guard from <= to else { throw Self.badParameter("from", "is past to (\(to)): a log only grows") }
        let proof = try ConsistencyProof.make(oldSize: from, newSize: to, from: log.reader)
        return Self.json(ConsistencyAnswer(
            from: from, to: to, proof: proof.map(\.base64), checkpoint: to == latest.checkpoint.size ? latest.note : nil
        ))
    }

    private static func number(_ query: [String: String], _ name: String, default value: UInt64?) throws -> UInt64 {
        guard let text = query[name] else {
            guard let value else { throw badParameter(name, "is required") }
            return value
        }
        guard let number = UInt64(text) else { throw badParameter(name, "'\(text.prefix(40))' is not a whole number") }
        return number
    }

    private static func badParameter(_ name: String, _ problem: String) -> OpenAIError {
        OpenAIError(status: .badRequest, message: "The query parameter \(name) \(problem).", code: "invalid_parameter", param: name)
    }

    static func json(_ value: some Encodable) -> [UInt8] {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        encoder.keyEncodingStrategy = .convertToSnakeCase
        return Array((try? encoder.encode(value)) ?? Data())
    }

    /// The query of a request target as name → value (the last of a repeated name).
    static func query(of uri: String) -> [String: String] {
        guard let components = URLComponents(string: uri), let items = components.queryItems else { return [:] }
        var query: [String: String] = [:]
        for item in items { query[item.name] = item.value ?? "" }
        return query
    }
}

// MARK: Answers

private struct ReceiptAnswer: Encodable {
    var object = "receipt"
    let id: String
    let receipt: ReceiptJSON
    let entry: String
    let leafIndex: UInt64
    let treeSize: UInt64
    let inclusionProof: [String]
    let checkpoint: String
}

private struct ListedReceipt: Encodable {
    let id: String
    let leafIndex: UInt64
    let receipt: ReceiptJSON
}

private struct ListAnswer: Encodable {
    var object = "list"
    let data: [ListedReceipt]
    let nextFromIndex: UInt64?

    func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: CodingKeys.self)
        try container.encode(object, forKey: .object)
        try container.encode(data, forKey: .data)
        try container.encode(nextFromIndex, forKey: .nextFromIndex)  // explicit null: the end of the list
    }

    enum CodingKeys: String, CodingKey { case object, data, nextFromIndex }
}

private struct CheckpointAnswer: Encodable {
    var object = "receipt_checkpoint"
    let treeSize: UInt64
    let rootHash: String
    let checkpoint: String
    let origin: String
    let verifierKey: String
}

private struct ConsistencyAnswer: Encodable {
    var object = "receipt_consistency"
    let from: UInt64
    let to: UInt64
    let proof: [String]
    let checkpoint: String?
}
