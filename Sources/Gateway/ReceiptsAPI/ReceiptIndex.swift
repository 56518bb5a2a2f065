import NIOConcurrencyHelpers
import Receipts

/// Where each receipt is in the log, for the receipt API: by id, and by tenant in log order.
///
/// Built from the log's entries at start and kept in memory (about 60 bytes a receipt). The
/// event loops add to it as they append, and read it for the receipt API.
final class ReceiptIndex: Sendable {
    struct Located: Sendable {
        let index: UInt64
        let tenant: String
    }

    struct TenantEntry: Sendable {
        let index: UInt64
        let timeMicroseconds: UInt64
    }

    private struct Tables {
        var byID: [ReceiptID: Located] = [:]
        var byTenant: [String: [TenantEntry]] = [:]
    }

    private let tables = NIOLockedValueBox(Tables())

    func add(_ receipts: [(index: UInt64, receipt: Receipt)]) {
        tables.withLockedValue { tables in
            for (index, receipt) in receipts {
                tables.byID[receipt.id] = Located(index: index, tenant: receipt.tenant)
                tables.byTenant[receipt.tenant, default: []].append(TenantEntry(index: index, timeMicroseconds: receipt.timeMicroseconds))
            }
        }
    }

    func locate(_ id: ReceiptID) -> Located? {
        tables.withLockedValue { $0.byID[id] }
    }

    /// The tenant's receipts from index `fromIndex` and time `fromTime` on, below index `end`, at
    /// most `limit`, in log order.
    func entries(tenant: String, fromIndex: UInt64, fromTime: UInt64, below end: UInt64, limit: Int) -> [TenantEntry] {
        tables.withLockedValue { tables in
            guard let list = tables.byTenant[tenant] else { return [] }
            // Indexes ascend: binary search for the first at or after `fromIndex`.
            var low = 0
            var high = list.count
            while low < high {
                let middle = (low + high) / 2
                if list[middle].index < fromIndex { low = middle + 1 } else { high = middle }
            }
            var found: [TenantEntry] = []
            for entry in list[low...] where entry.timeMicroseconds >= fromTime {
                if entry.index >= end { break }
                found.append(entry)
                if found.count == limit { break }
            }
            return found
        }
    }
}
