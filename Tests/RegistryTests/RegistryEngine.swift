import Foundation
import Registry
import RegistryLocations
import Testing

/// The engines the registry suite runs on: SQLite always; PostgreSQL when `make test` (or the
/// developer) has started a server and named it in `POPGATE_TEST_POSTGRES_URL`. With
/// `POPGATE_REQUIRE_INTEGRATION=1` (CI) a missing server fails the PostgreSQL cases instead of
/// leaving them out.
enum RegistryEngine: String, CaseIterable, CustomTestStringConvertible, Sendable {
    case sqlite, postgres

    static let postgresURL = ProcessInfo.processInfo.environment["POPGATE_TEST_POSTGRES_URL"]
    static let required = ProcessInfo.processInfo.environment["POPGATE_REQUIRE_INTEGRATION"] == "1"

    static var all: [RegistryEngine] { postgresURL != nil || required ? [.sqlite, .postgres] : [.sqlite] }

    var testDescription: String { rawValue }

    /// A location no other test uses: a new SQLite file, or a new database on the test server.
    func freshLocation() throws -> RegistryLocation {
        switch self {
        case .sqlite:
            let directory = NSTemporaryDirectory() + "popgate-registry-\(UUID().uuidString)"
            return .sqlite(path: directory + "/registry.sqlite")
        case .postgres:
            guard let url = Self.postgresURL else {
                throw TestServerMissing(
                    description: "POPGATE_TEST_POSTGRES_URL is not set; run `make test`, which starts a PostgreSQL "
                        + "server for the suite, or start one with Tests/support/throwaway-postgres.sh"
                )
            }
            let server = try PostgresLocation(url: url)
            let database = "popgate_test_\(UUID().uuidString.replacingOccurrences(of: "-", with: "").lowercased())"
            try Self.psql(url, "CREATE DATABASE \(database)")
            var location = server
            location.database = database
            return .postgres(location)
        }
    }

    /// Runs one statement with psql, the server's own client, so the suite needs no second driver.
    private static func psql(_ url: String, _ statement: String) throws {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        process.arguments = ["psql", "-X", "-q", "-v", "ON_ERROR_STOP=1", "-d", url, "-c", statement]
        var environment = ProcessInfo.processInfo.environment
        environment["PATH"] = "/usr/lib/postgresql/15/bin:" + (environment["PATH"] ?? "/usr/bin:/bin")
        process.environment = environment
        try process.run()
        process.waitUntilExit()
        guard process.terminationStatus == 0 else {
            throw TestServerMissing(description: "psql failed (\(process.terminationStatus)) running: \(statement)")
        }
    }
}

struct TestServerMissing: Error, CustomStringConvertible {
    let description: String
}
