import Gateway
import Testing

/// What the upstream-json and upstream-sse fuzz targets found in the reading of a worker's usage:
/// a worker could crash popgated (a total past Int.max trapped where the caller is charged) and
/// shrink a caller's charge (negative counts were taken as they came).
@Suite struct TokenUsageFindingsTests {
    @Test func aTotalPastIntMaxStaysAtIntMax() {
        let usage = TokenUsage(usageObjectText: Array(#"{"prompt_tokens":9223372036854775807,"completion_tokens":1}"#.utf8)[...])
        #expect(usage?.total == Int.max)
    }

    @Test(arguments: [
        #"{"prompt_tokens":-5,"completion_tokens":-1000000}"#, #"{"input_tokens":-1}"#,
    ])
    func aNegativeCountIsNoCount(_ text: String) {
        #expect(TokenUsage(usageObjectText: Array(text.utf8)[...]) == nil)
    }

    @Test func aNegativeCompletionCountsAsNone() {
        let usage = TokenUsage(usageObjectText: Array(#"{"prompt_tokens":12,"completion_tokens":-3}"#.utf8)[...])
        #expect(usage == TokenUsage(prompt: 12, completion: 0))
    }

    @Test func ordinaryUsageIsReadAsBefore() {
        let usage = TokenUsage(usageObjectText: Array(#"{"prompt_tokens":12,"total_tokens":15,"completion_tokens":3}"#.utf8)[...])
        #expect(usage == TokenUsage(prompt: 12, completion: 3))
        #expect(usage?.total == 15)
    }
}
