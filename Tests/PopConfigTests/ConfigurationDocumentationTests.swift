import Foundation
import Testing

@testable import PopConfig

/// docs/configuration.md against the loader: every example in it loads, and every key the loader
/// reads is documented there.
///
/// The converse, that every key the examples write is a key the loader knows, needs no check of its
/// own: the loader refuses unknown keys, so it follows from the examples loading. Members of the
/// data tables `tier_weights` (tier names) and `model_revisions` (model names) are not keys of the
/// configuration: the loader reads them from the sub-table directly, never through a `TableReader`,
/// so they are never recorded, and it checks them itself against the tiers and the backend's models.
@Suite struct ConfigurationDocumentationTests {
    static let repository = URL(fileURLWithPath: #filePath)
        .deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
    static let documentName = "docs/configuration.md"

    /// One ```toml block of the document; `line` is the document line of its first line.
    struct Block {
        var line: Int
        var text: String
    }

    static func blocks() throws -> [Block] {
        let document = try String(
            contentsOf: repository.appendingPathComponent(documentName), encoding: .utf8
        )
        var blocks: [Block] = []
        var open: Block?
        for (offset, line) in document.split(separator: "\n", omittingEmptySubsequences: false).enumerated() {
            let fence = line.trimmingCharacters(in: .whitespaces)
            if open == nil, fence == "```toml" {
                open = Block(line: offset + 2, text: "")
            } else if let block = open, fence.hasPrefix("```") {
                blocks.append(block)
                open = nil
            } else if open != nil {
                open!.text += line + "\n"
            }
        }
        return blocks
    }

    /// An example the loader must accept; `firstLine` is the document line of its first line when
    /// it is one block as written, nil when it is merged from two.
    struct Example {
        var label: String
        var text: String
        var firstLine: Int?

        /// Where and why the loader refused it, with the document's line where there is one.
        func failure(_ error: ConfigError) -> String {
            guard let firstLine else { return "\(label) does not load: \(error)" }
            let located = ConfigError(
                path: ConfigurationDocumentationTests.documentName, key: error.key,
                line: error.line.map { firstLine + $0 - 1 }, message: error.message
            )
            return "\(label) does not load: \(located)"
        }
    }

    /// The examples as the loader should accept them. The first block is the whole file; a later
    /// block shows an alternative for some tables (the PostgreSQL `[registry]`, whose `url` may not
    /// stand beside the SQLite `path`), so its tables replace those of the first block.
    static func examples() throws -> [Example] {
        let all = try blocks()
        guard let full = all.first else { return [] }
        var examples = [Example(label: "the example at line \(full.line)", text: full.text, firstLine: full.line)]
        for block in all.dropFirst() {
            examples.append(Example(
                label: "the example at line \(block.line), put in place of those tables of line \(full.line),",
                text: overlay(block.text, on: full.text)
            ))
        }
        return examples
    }

    /// `base` with each table (`[name]` or `[[name]]` and the lines up to the next header) that
    /// `partial` also has replaced by `partial`'s; tables only `partial` has are added at the end.
    static func overlay(_ partial: String, on base: String) -> String {
        func tables(_ text: String) -> [(header: String, text: String)] {
            var tables: [(header: String, text: String)] = [("", "")]
            for line in text.split(separator: "\n", omittingEmptySubsequences: false) {
                let code = withoutComment(line).trimmingCharacters(in: .whitespaces)
                if code.hasPrefix("[") { tables.append((code, "")) }
                tables[tables.count - 1].text += line + "\n"
            }
            return tables
        }
        let replacements = tables(partial)
        var replaced: Set<String> = []
        var merged = ""
        for table in tables(base) {
            guard replacements.contains(where: { $0.header == table.header && !$0.text.isEmpty }) else {
                merged += table.text
                continue
            }
            if replaced.insert(table.header).inserted {
                merged += replacements.filter { $0.header == table.header }.map(\.text).joined()
            }
        }
        for table in replacements where !replaced.contains(table.header) { merged += table.text }
        return merged
    }

    /// A TOML line without its comment (a `#` inside a string is not one).
    static func withoutComment(_ line: Substring) -> Substring {
        var quote: Character?
        var escaped = false
        for index in line.indices {
            let character = line[index]
            if let open = quote {
                if escaped {
                    escaped = false
                } else if character == "\\" && open == "\"" {
                    escaped = true
                } else if character == open {
                    quote = nil
                }
            } else if character == "\"" || character == "'" {
                quote = character
            } else if character == "#" {
                return line[..<index]
            }
        }
        return line
    }

    static func unquoted(_ key: Substring) -> String {
        let key = key.trimmingCharacters(in: .whitespaces)
        guard key.count >= 2, let first = key.first, first == "\"" || first == "'", key.last == first else {
            return key
        }
        return String(key.dropFirst().dropLast())
    }

    /// The document line of every documented key path: a `[table]` or `[[table]]` header
    /// (`backends`), a `key =` line at the start of a line (`gateway.listen_port`, `backends[].url`),
    /// and a member of a one-line inline table (`limits.slow.requests_per_minute`).
    static func documentedKeyPaths() throws -> [String: Int] {
        var documented: [String: Int] = [:]
        for block in try blocks() {
            var table = ""
            for (offset, line) in block.text.split(separator: "\n", omittingEmptySubsequences: false).enumerated() {
                let code = withoutComment(line).trimmingCharacters(in: .whitespaces)
                if code.hasPrefix("[[") && code.hasSuffix("]]") {
                    let name = String(code.dropFirst(2).dropLast(2))
                    documented[name] = documented[name] ?? block.line + offset
                    table = name + "[]"
                    continue
                }
                if code.hasPrefix("[") && code.hasSuffix("]") {
                    table = String(code.dropFirst().dropLast())
                    documented[table] = documented[table] ?? block.line + offset
                    continue
                }
                guard let equals = code.firstIndex(of: "=") else { continue }
                let key = unquoted(code[..<equals])
                let path = table.isEmpty ? key : "\(table).\(key)"
                documented[path] = documented[path] ?? block.line + offset
                let value = code[code.index(after: equals)...].trimmingCharacters(in: .whitespaces)
                guard value.hasPrefix("{"), value.hasSuffix("}") else { continue }
                // One level is enough: no documented inline table nests another or quotes a ',' or '='.
                for member in value.dropFirst().dropLast().split(separator: ",") {
                    guard let memberEquals = member.firstIndex(of: "=") else { continue }
                    let memberPath = "\(path).\(unquoted(member[..<memberEquals]))"
                    documented[memberPath] = documented[memberPath] ?? block.line + offset
                }
            }
        }
        return documented
    }

    /// Where a key path belongs, as a reader of the document looks for it: `[[backends]]`,
    /// `[gateway]`, or `slow = { … } in [limits]` for a table the document writes inline.
    static func section(of keyPath: String) -> String {
        guard let dot = keyPath.lastIndex(of: ".") else { return "the top level" }
        let table = keyPath[..<dot]
        if table.hasSuffix("[]") { return "[[\(table.dropLast(2))]]" }
        guard let parentDot = table.lastIndex(of: ".") else { return "[\(table)]" }
        return "\(table[table.index(after: parentDot)...]) = { … } in [\(table[..<parentDot])]"
    }

    @Test func everyExampleLoads() throws {
        let examples = try Self.examples()
        #expect(examples.count >= 2, "expected the full example and the PostgreSQL one in \(Self.documentName)")
        for example in examples {
            do {
                _ = try PopConfiguration.parse(example.text, path: "the merged example")
            } catch {
                Issue.record("\(example.failure(error))")
            }
        }
    }

    /// Every key the loader asks for while it loads the examples, set there or not, is documented.
    @Test func everyKeyTheLoaderReadsIsDocumented() throws {
        var asked: Set<String> = []
        for example in try Self.examples() {
            do {
                let loaded = try PopConfiguration.parseRecordingKeyPaths(example.text, path: "the merged example")
                asked.formUnion(loaded.keyPaths)
            } catch {
                // Keys asked for after the refused one were never asked for: the lists below would mislead.
                Issue.record("\(example.failure(error)); its keys cannot be checked until it loads")
                return
            }
        }
        // The recorder must see every section, or this test would pass on nothing.
        let samples = [
            "pop.name", "registry.url", "gateway.listen_port", "limits.slow.requests_per_minute", "backends[].url",
            "backends[].tier_weights", "firewall.management_ports", "tls.certificate_file",
        ]
        for sample in samples {
            #expect(asked.contains(sample), "the loader was not seen asking for \(sample)")
        }
        let dataMembers = asked.filter {
            $0.hasPrefix("backends[].tier_weights.") || $0.hasPrefix("backends[].model_revisions.")
        }
        #expect(dataMembers.isEmpty, "tier and model names are data, not keys")

        let documented = try Self.documentedKeyPaths()
        let missing = asked.subtracting(documented.keys).sorted()
        if !missing.isEmpty {
            Issue.record("""
                \(Self.documentName) does not document these keys the loader reads; add each to its section \
                of the example, with its default and effect in a comment:
                \(missing.map { "  \($0)  (section \(Self.section(of: $0)))" }.joined(separator: "\n"))
                """)
        }
    }

    /// Every string literal passed to a `TableReader` accessor in Sources/PopConfig names a key the
    /// document has: this also catches a key read only on a branch the examples do not reach. A
    /// literal does not say its table, so this checks the key's name only; the test above checks
    /// the tables of all keys the examples reach.
    @Test func everyKeyInTheSourcesIsDocumented() throws {
        let sources = Self.repository.appendingPathComponent("Sources/PopConfig")
        let readerSource = try String(contentsOf: sources.appendingPathComponent("TableReader.swift"), encoding: .utf8)
        // The accessors are TableReader's non-private mutating methods taking a key (each makes its key
        // known), read from its source so that a new one is scanned for too.
        let accessors = readerSource.matches(of: /\n\s*mutating func (\w+)\(_ key: String/).map { String($0.output.1) }
        for accessor in ["string", "requiredString", "int", "bool", "strings", "ints", "subtable", "tableArray"] {
            #expect(accessors.contains(accessor), "TableReader.\(accessor)(_:) was not found; update this test")
        }
        let documentedNames = Set(try Self.documentedKeyPaths().keys.map { path in
            path.split(separator: ".").last.map(String.init) ?? path
        })

        var scanned = 0
        var missing: [String] = []
        let files = try FileManager.default.contentsOfDirectory(atPath: sources.path).filter { $0.hasSuffix(".swift") }
        for file in files.sorted() {
            let text = try String(contentsOf: sources.appendingPathComponent(file), encoding: .utf8)
            for match in text.matches(of: /\.(\w+)\(\s*"([^"\\]+)"/) where accessors.contains(String(match.output.1)) {
                scanned += 1
                let key = String(match.output.2)
                guard !documentedNames.contains(key) else { continue }
                let before = text[..<match.range.lowerBound]
                let line = before.count(where: { $0 == "\n" }) + 1
                let function = before.matches(of: /func (\w+)/).last.map { " in \($0.output.1)" } ?? ""
                missing.append("  \(key)  (read at Sources/PopConfig/\(file):\(line)\(function))")
            }
        }
        #expect(scanned >= 40, "only \(scanned) keys were found in Sources/PopConfig; is the pattern out of date?")
        if !missing.isEmpty {
            Issue.record("""
                \(Self.documentName) documents no key of these names, which Sources/PopConfig reads; add each \
                to its section of the example, with its default and effect in a comment:
                \(missing.joined(separator: "\n"))
                """)
        }
    }
}
