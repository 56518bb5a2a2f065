import NIOCore

/// Reads an answer's usage as it passes: an event stream's from its events, any other body's from
/// its end.
enum ResponseMeter {
    case events(UsageStreamFilter)
    case body(UsageTail)

    var isEventStream: Bool {
        if case .events = self { return true }
        return false
    }

    mutating func pass(_ chunk: ByteBuffer) -> ByteBuffer {
        switch self {
        case .events(var filter):
            self = .body(UsageTail())  // so the filter is uniquely referenced while it changes
            let out = filter.pass(chunk)
            self = .events(filter)
            return out
        case .body(var tail):
            tail.append(chunk)
            self = .body(tail)
            return chunk
        }
    }

    /// The rest of an event stream that did not end with a blank line.
    mutating func finish() -> ByteBuffer {
        guard case .events(var filter) = self else { return ByteBuffer() }
        let rest = filter.finish()
        self = .events(filter)
        return rest
    }

    /// The request's tokens. A whole answer has the worker's report, if it made one. A stream cut
    /// short has the last report (vLLM's continuous usage), or else the pieces relayed, counted. A
    /// body cut short has no usable answer and is not counted.
    func usage(complete: Bool) -> ProxyExchangeStateMachine.Usage? {
        switch self {
        case .events(let filter):
            if let reported = filter.usage { return .reported(reported) }
            if complete && filter.contentPieces == 0 { return nil }
            return .counted(TokenUsage(prompt: 0, completion: filter.contentPieces))
        case .body(let tail):
            guard complete else { return nil }
            return tail.usage.map { .reported($0) }
        }
    }
}
