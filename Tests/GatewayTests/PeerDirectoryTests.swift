@testable import Gateway
import Registry
import Testing

@Suite struct PeerDirectoryTests {
    @Test func everyReplacementIsANewGeneration() {
        let directory = PeerDirectory()
        let first = directory.versioned.generation
        directory.replace(with: .empty)
        // The same snapshot again (a reload by the clock keeps the revision) is still a new generation,
        // so what a connection remembers of the last one is not reused.
        directory.replace(with: .empty)
        #expect(directory.versioned.generation == first + 2)
    }
}
