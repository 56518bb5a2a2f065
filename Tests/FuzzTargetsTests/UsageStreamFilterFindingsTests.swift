import Gateway
import NIOCore
import Testing

/// Found while writing the upstream-sse target: the filter searched everything it held for an
/// event's end again with every piece, so a worker sending one long event (or a body that is not
/// SSE at all) in small pieces cost time quadratic in its length, on the event loop.
@Suite struct UsageStreamFilterFindingsTests {
    @Test func aLongEventInSmallPiecesIsSearchedOnce() {
        // 2 MiB with no blank line and a usage key (so every piece goes through the search), in 1 KiB pieces:
        // searching all that is held with every piece reads about 2 GiB (over 120 s in a debug build before the
        // fix), searching each byte once 2 MiB (about 1.5 s).
        let piece = ByteBuffer(string: "data: {\"usage\":" + String(repeating: "x", count: 1024 - 16) + "\n")
        var filter = UsageStreamFilter(removesUsageChunk: true)
        let clock = ContinuousClock()
        let elapsed = clock.measure {
            for _ in 0..<2048 { _ = filter.pass(piece) }
        }
        #expect(elapsed < .seconds(20), "2048 pieces of one event took \(elapsed)")
        #expect(filter.finish().readableBytes == 2048 * 1024)
    }
}
