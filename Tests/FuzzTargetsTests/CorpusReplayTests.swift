import Foundation
import FuzzTargets
import Testing

/// Every committed seed runs through its target in the ordinary build, so a parser change that
/// breaks an invariant on a known input fails here, without the sanitizer build (Fuzz/fuzz.sh).
@Suite struct CorpusReplayTests {
    static let corpus = URL(fileURLWithPath: #filePath)
        .deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
        .appendingPathComponent("Fuzz/corpus")

    static func seeds(of target: String) throws -> [URL] {
        try FileManager.default.contentsOfDirectory(
            at: corpus.appendingPathComponent(target), includingPropertiesForKeys: nil
        ).filter { !$0.lastPathComponent.hasPrefix(".") }
    }

    @Test func everyTargetHasSeedsAndEveryCorpusHasATarget() throws {
        let directories = try FileManager.default.contentsOfDirectory(atPath: Self.corpus.path)
            .filter { !$0.hasPrefix(".") }
        let names = FuzzTarget.all.map(\.name)
        #expect(Set(directories) == Set(names), "Fuzz/corpus/ holds \(directories.sorted()), the targets are \(names.sorted())")
        #expect(Set(names).count == names.count, "two targets share a name")
        for name in names {
            #expect(try !Self.seeds(of: name).isEmpty, "Fuzz/corpus/\(name) has no seed")
        }
    }

    @Test(arguments: FuzzTarget.all.map(\.name))
    func seedsRunThrough(_ name: String) throws {
        let target = try #require(FuzzTarget.named(name))
        // A seed that breaks an invariant traps, which fails the whole test run, naming the property.
        for seed in try Self.seeds(of: name) {
            let bytes = Array(try Data(contentsOf: seed))
            FuzzCheck.$input.withValue("Fuzz/corpus/\(name)/\(seed.lastPathComponent)") { target.run(bytes) }
        }
    }
}
