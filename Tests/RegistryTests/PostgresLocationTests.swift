import Foundation
@testable import Registry
import RegistryLocations
import Testing

/// `[registry] url`, the placeholders the PostgreSQL engine numbers, and an unreachable server.
@Suite struct PostgresLocationTests {
    @Test func aURLIsReadWithItsDefaults() throws {
        let location = try PostgresLocation(url: "postgres://popgate@db.example.net/registry")
        #expect(location.host == "db.example.net" && location.port == 5432)
        #expect(location.user == "popgate" && location.database == "registry" && !location.requireTLS)
        #expect(location.description == "postgres://popgate@db.example.net:5432/registry")
        let tls = try PostgresLocation(url: "postgresql://u@[fd00::5]:6543/r?sslmode=require")
        #expect(tls.host == "fd00::5" && tls.port == 6543 && tls.requireTLS)
    }

    @Test(arguments: [
        ("postgres://u:secret@h/db", "must not contain a password"),
        ("mysql://u@h/db", "is not a postgres:// URL"),
        ("postgres://h/db", "names no user"),
        ("postgres://u@h", "names no database"),
        ("postgres://u@h/db?sslmode=verify-full", "only sslmode=disable or sslmode=require"),
    ])
    func badURLsSayWhatIsWrong(url: String, reason: String) {
        #expect {
            try PostgresLocation(url: url)
        } throws: { error in
            let message = (error as? RegistryLocationError)?.message ?? ""
            // The message never repeats a password it was given.
            return message.contains(reason) && !message.contains("secret")
        }
    }

    @Test func placeholdersAreNumberedOutsideQuotedText() {
        #expect(
            PostgresPlaceholders.number("SELECT '?' AS q, a FROM t WHERE b = ? AND c IS DISTINCT FROM ?")
                == "SELECT '?' AS q, a FROM t WHERE b = $1 AND c IS DISTINCT FROM $2"
        )
    }

    @Test func anUnreachableServerIsNamedWithWhatToCheck() throws {
        // Port 1 on loopback: nothing listens there, so the connection is refused at once.
        let store = try RegistryStore(location: .postgres(try PostgresLocation(url: "postgres://popgate@127.0.0.1:1/popgate")))
        #expect {
            try store.tenants()
        } throws: { error in
            guard let error = error as? RegistryError, error.code == .storage else { return false }
            return error.message.contains("127.0.0.1 port 1") && error.message.contains("pg_hba.conf")
        }
    }
}
