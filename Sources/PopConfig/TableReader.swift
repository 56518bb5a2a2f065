import Addressing
import Foundation
import TOMLKit

/// Reads typed values out of one TOML table, turning every problem into a ``ConfigError`` that
/// names the key and its line, and refusing keys it does not know (a typo must not be ignored).
struct TableReader {
    let table: TOMLTable
    let name: String?
    let index: Int?
    let path: String
    let locator: SourceLocator
    private var known: Set<String> = []

    init(table: TOMLTable, name: String?, index: Int? = nil, path: String, locator: SourceLocator) {
        self.table = table
        self.name = name
        self.index = index
        self.path = path
        self.locator = locator
    }

    func keyPath(_ key: String) -> String {
        guard let name else { return key }
        return index.map { "\(name)[\($0)].\(key)" } ?? "\(name).\(key)"
    }

    /// Makes `key` known here, so ``rejectUnknownKeys()`` accepts it, and reports it to the
    /// ``KeyPathRecorder`` bound to the current task, if any.
    private mutating func ask(_ key: String) {
        known.insert(key)
        KeyPathRecorder.current?.record(name.map { index == nil ? "\($0).\(key)" : "\($0)[].\(key)" } ?? key)
    }

    func error(_ key: String?, _ message: String) -> ConfigError {
        ConfigError(
            path: path, key: key.map(keyPath) ?? name, line: locator.line(table: name, index: index, key: key),
            message: message
        )
    }

    mutating func string(_ key: String) throws(ConfigError) -> String? {
        ask(key)
        guard let value = table[key] else { return nil }
        guard let text = value.string else { throw error(key, "expected a string, found \(value.type)") }
        return text
    }

    mutating func requiredString(_ key: String, hint: String) throws(ConfigError) -> String {
        guard let text = try string(key) else { throw error(key, "is required; \(hint)") }
        return text
    }

    mutating func int(_ key: String, range: ClosedRange<Int>) throws(ConfigError) -> Int? {
        ask(key)
        guard let value = table[key] else { return nil }
        guard let number = value.int else { throw error(key, "expected an integer, found \(value.type)") }
        guard range.contains(number) else {
            throw error(key, "\(number) is out of range; use a value from \(range.lowerBound) to \(range.upperBound)")
        }
        return number
    }

    mutating func bool(_ key: String) throws(ConfigError) -> Bool? {
        ask(key)
        guard let value = table[key] else { return nil }
        guard let flag = value.bool else { throw error(key, "expected true or false, found \(value.type)") }
        return flag
    }

    mutating func strings(_ key: String) throws(ConfigError) -> [String]? {
        ask(key)
        guard let value = table[key] else { return nil }
        guard let array = value.array else { throw error(key, "expected an array of strings, found \(value.type)") }
        var out: [String] = []
        for element in array {
            guard let text = element.string else { throw error(key, "expected only strings in the array") }
            out.append(text)
        }
        return out
    }

    mutating func ints(_ key: String, range: ClosedRange<Int>) throws(ConfigError) -> [Int]? {
        ask(key)
        guard let value = table[key] else { return nil }
        guard let array = value.array else { throw error(key, "expected an array of integers, found \(value.type)") }
        var out: [Int] = []
        for element in array {
            guard let number = element.int else { throw error(key, "expected only integers in the array") }
            guard range.contains(number) else {
                throw error(key, "\(number) is out of range; use values from \(range.lowerBound) to \(range.upperBound)")
            }
            out.append(number)
        }
        return out
    }

    mutating func prefix(_ key: String, example: String) throws(ConfigError) -> IPPrefix? {
        guard let text = try string(key) else { return nil }
        guard let prefix = IPPrefix(text) else {
            throw error(key, "\"\(text)\" is not an address prefix; write it as CIDR, e.g. \"\(example)\"")
        }
        return prefix
    }

    mutating func endpoint(_ key: String, example: String) throws(ConfigError) -> SocketEndpoint? {
        guard let text = try string(key) else { return nil }
        guard let endpoint = SocketEndpoint(text) else {
            throw error(key, "\"\(text)\" is not HOST:PORT; e.g. \"\(example)\"")
        }
        return endpoint
    }

    mutating func subtable(_ key: String) throws(ConfigError) -> TOMLTable? {
        ask(key)
        guard let value = table[key] else { return nil }
        guard let sub = value.table else { throw error(key, "expected a table [\(keyPath(key))]") }
        return sub
    }

    mutating func tableArray(_ key: String) throws(ConfigError) -> [TOMLTable] {
        ask(key)
        guard let value = table[key] else { return [] }
        guard let array = value.array else { throw error(key, "expected an array of tables [[\(key)]]") }
        var out: [TOMLTable] = []
        for element in array {
            guard let sub = element.table else { throw error(key, "expected an array of tables [[\(key)]]") }
            out.append(sub)
        }
        return out
    }

    /// Fails on the first key that no accessor asked for.
    func rejectUnknownKeys() throws(ConfigError) {
        for key in table.keys.sorted() where !known.contains(key) {
            throw error(key, "unknown key; check its spelling against docs/configuration.md")
        }
    }
}

/// Collects the path of every key the loader asks a ``TableReader`` for, whether the file sets it
/// or not (`gateway.listen_port`, `limits.slow.requests_per_minute`, `backends[].url`), so a test
/// can hold docs/configuration.md to the keys the code really reads. Unbound, as outside that
/// test, it costs one task-local read per key.
final class KeyPathRecorder: @unchecked Sendable {
    @TaskLocal static var current: KeyPathRecorder?

    // NSLock rather than Synchronization.Mutex: the package still builds for macOS 14.
    private let lock = NSLock()
    private var paths: Set<String> = []

    func record(_ path: String) {
        lock.withLock { _ = paths.insert(path) }
    }

    var recorded: Set<String> {
        lock.withLock { paths }
    }
}

extension PopConfiguration {
    /// ``parse(_:path:)``, also returning the path of every key the loader asked for (see ``KeyPathRecorder``).
    static func parseRecordingKeyPaths(
        _ text: String, path: String = "popgate.toml"
    ) throws(ConfigError) -> (configuration: PopConfiguration, keyPaths: Set<String>) {
        let recorder = KeyPathRecorder()
        let result = KeyPathRecorder.$current.withValue(recorder) {
            Result { () throws(ConfigError) in try parse(text, path: path) }
        }
        return (try result.get(), recorder.recorded)
    }
}
