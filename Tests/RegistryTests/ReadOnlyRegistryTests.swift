import Foundation
import GRDB
@testable import Registry
import RegistryLocations
import Testing

/// popgated opens the registry read-only (as user popgate it may not write it): what that needs of
/// the writers (persistent WAL) and what it refuses.
@Suite struct ReadOnlyRegistryTests {
    private func freshPath() -> String {
        NSTemporaryDirectory() + "popgate-readonly-\(UUID().uuidString).sqlite"
    }

    private func remove(_ path: String) {
        for suffix in ["", "-wal", "-shm", "-notify"] { try? FileManager.default.removeItem(atPath: path + suffix) }
    }

    @Test func writersLeaveTheWALFilesForReadOnlyReaders() throws {
        let path = freshPath()
        defer { remove(path) }
        do { _ = try RegistryStore(path: path) }
        // Without persistent WAL, SQLite deletes both when the last connection closes, and a read-only
        // connection could not open the database again (it cannot create them).
        #expect(FileManager.default.fileExists(atPath: path + "-wal"))
        #expect(FileManager.default.fileExists(atPath: path + "-shm"))
    }

    @Test func aReadOnlyStoreSeesTheWritersChanges() throws {
        let path = freshPath()
        defer { remove(path) }
        let writer = try RegistryStore(path: path)
        let reader = try RegistryStore(location: .sqlite(path: path), readOnly: true)
        let before = try reader.revision()
        _ = try writer.addTenant(name: "acme")
        #expect(try reader.revision() > before)
        #expect(try reader.tenants().map(\.name) == ["acme"])
    }

    @Test func aReadOnlyStoreCannotWrite() throws {
        let path = freshPath()
        defer { remove(path) }
        _ = try RegistryStore(path: path)
        let reader = try RegistryStore(location: .sqlite(path: path), readOnly: true)
        #expect(throws: RegistryError.self) { _ = try reader.addTenant(name: "mallory") }
    }

    @Test func aMissingRegistryIsNotCreatedAndTheErrorSaysWhatToStart() throws {
        let path = freshPath()
        defer { remove(path) }
        let error = #expect(throws: RegistryError.self) {
            _ = try RegistryStore(location: .sqlite(path: path), readOnly: true)
        }
        #expect(error?.description.contains("does not exist yet") == true)
        #expect(error?.description.contains("start popnetd first") == true)
        #expect(!FileManager.default.fileExists(atPath: path))
    }

    @Test func anOlderSchemaIsRefusedNotMigrated() throws {
        let path = freshPath()
        defer { remove(path) }
        do {
            let queue = try DatabaseQueue(path: path)
            try queue.writeWithoutTransaction { db in try db.execute(sql: "PRAGMA journal_mode = WAL") }
            try SQLiteSchema.migrator.migrate(queue, upTo: "v1")
        }
        let error = #expect(throws: RegistryError.self) {
            _ = try RegistryStore(location: .sqlite(path: path), readOnly: true)
        }
        #expect(error?.description.contains("older schema") == true)
        let applied = try DatabaseQueue(path: path).read { db in try SQLiteSchema.migrator.appliedMigrations(db) }
        #expect(applied == ["v1"])
    }
}
