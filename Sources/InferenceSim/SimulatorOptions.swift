/// A setting the simulator cannot run with, described so the operator can fix it.
public struct SimulatorOptionsError: Error, Sendable, Equatable, CustomStringConvertible {
    /// What is wrong and what to do instead.
    public let description: String

    /// Creates an error.
    public init(_ description: String) {
        self.description = description
    }
}

/// Everything that shapes a simulator's behaviour; validated on creation, so a running server
/// never meets a nonsensical value.
public struct SimulatorOptions: Sendable, Equatable {
    /// Where to listen.
    public var listen: ListenAddress
    /// The models served, in listing order; never empty, no duplicates. The first names the
    /// `/metrics` series, as vLLM serves a single model.
    public var models: [String]
    /// The simulated generation rate; 0 answers at once.
    public var tokensPerSecond: Double
    /// How many in-flight requests count as running; the rest are reported as waiting.
    public var maxRunning: Int
    /// When set, `/metrics` reports this queue depth instead of the measured one.
    public var reportQueueDepth: Int?
    /// When set, `/metrics` reports this KV-cache usage (0...1) instead of the measured one.
    public var reportKVUsage: Double?
    /// The largest request body accepted; larger ones get 413.
    public var maxRequestBodyBytes: Int
    /// vLLM's `--scheduling-policy priority`: waiting requests are served lowest `priority` first.
    /// Without it (vLLM's default, `fcfs`) a priority is accepted and ignored, as vLLM 0.32 does.
    public var priorityScheduling: Bool
    /// Whether completions repeat the words of the newest user text (`--echo-prompt`) instead of
    /// ``SimulatedText/words``: for tests that follow text of their own through the whole path.
    public var echoPrompt: Bool
    /// The server imitated. With llama.cpp, ``maxRunning`` is its slot count (`--parallel`).
    public var engine: InferenceEngine
    /// llama.cpp only: for this long after the listener opens, every request is answered 503
    /// "Loading model", as llama-server answers while it loads the weights. vLLM opens no listener
    /// until it has loaded, so it has nothing to imitate here.
    public var loadingTime: Duration
    /// llama.cpp only: when set, `/metrics` reports this many busy slots
    /// (`llamacpp:requests_processing`) instead of the measured count.
    public var reportBusySlots: Int?

    /// The generation rate when none is given.
    public static let defaultTokensPerSecond = 50.0
    /// The running-slot count when none is given.
    public static let defaultMaxRunning = 8
    /// The body limit when none is given: 16 MiB.
    public static let defaultMaxRequestBodyBytes = 16 << 20

    /// Creates options, refusing values the simulator cannot honour.
    public init(
        listen: ListenAddress, models: [String], tokensPerSecond: Double = defaultTokensPerSecond,
        maxRunning: Int = defaultMaxRunning, reportQueueDepth: Int? = nil, reportKVUsage: Double? = nil,
        maxRequestBodyBytes: Int = defaultMaxRequestBodyBytes, priorityScheduling: Bool = false,
        echoPrompt: Bool = false, engine: InferenceEngine = .vllm, loadingTime: Duration = .zero,
        reportBusySlots: Int? = nil
    ) throws(SimulatorOptionsError) {
        guard !models.isEmpty else {
            throw SimulatorOptionsError("no models given; name at least one, e.g. --models llama-3-8b")
        }
        if let empty = models.firstIndex(where: { $0.isEmpty }) {
            throw SimulatorOptionsError("model name \(empty + 1) is empty; remove the stray comma")
        }
        var seen = Set<String>()
        for model in models where !seen.insert(model).inserted {
            throw SimulatorOptionsError("model '\(model)' is listed twice; list each model once")
        }
        guard tokensPerSecond.isFinite, tokensPerSecond >= 0 else {
            throw SimulatorOptionsError(
                "tokens per second must be a finite number >= 0 (0 means no delay), not \(tokensPerSecond)"
            )
        }
        guard maxRunning >= 1 else {
            throw SimulatorOptionsError("max running must be at least 1, not \(maxRunning)")
        }
        if let reportQueueDepth, reportQueueDepth < 0 {
            throw SimulatorOptionsError("reported queue depth must be >= 0, not \(reportQueueDepth)")
        }
        if let reportKVUsage, !(0...1).contains(reportKVUsage) {
            throw SimulatorOptionsError("reported KV-cache usage is a fraction in 0...1, not \(reportKVUsage)")
        }
        if let reportBusySlots, reportBusySlots < 0 {
            throw SimulatorOptionsError("reported busy slots must be >= 0, not \(reportBusySlots)")
        }
        guard loadingTime >= .zero else {
            throw SimulatorOptionsError("the loading time must be >= 0 seconds, not \(loadingTime)")
        }
        try Self.checkEngine(
            engine, reportKVUsage: reportKVUsage, priorityScheduling: priorityScheduling, loadingTime: loadingTime,
            reportBusySlots: reportBusySlots
        )
        guard maxRequestBodyBytes >= 1 else {
            throw SimulatorOptionsError("the request body limit must be at least 1 byte, not \(maxRequestBodyBytes)")
        }
        self.listen = listen
        self.models = models
        self.tokensPerSecond = tokensPerSecond
        self.maxRunning = maxRunning
        self.reportQueueDepth = reportQueueDepth
        self.reportKVUsage = reportKVUsage
        self.maxRequestBodyBytes = maxRequestBodyBytes
        self.priorityScheduling = priorityScheduling
        self.echoPrompt = echoPrompt
        self.engine = engine
        self.loadingTime = loadingTime
        self.reportBusySlots = reportBusySlots
    }

    /// Refuses settings the imitated engine has no counterpart for, so a test cannot stage a state
    /// the real engine never shows.
    private static func checkEngine(
        _ engine: InferenceEngine, reportKVUsage: Double?, priorityScheduling: Bool, loadingTime: Duration,
        reportBusySlots: Int?
    ) throws(SimulatorOptionsError) {
        switch engine {
        case .vllm:
            guard loadingTime == .zero else {
                throw SimulatorOptionsError(
                    "--loading-seconds is for --engine llamacpp only: vLLM serves no HTTP until its model is loaded, "
                        + "so to imitate its loading start the simulator later"
                )
            }
            guard reportBusySlots == nil else {
                throw SimulatorOptionsError(
                    "--report-busy-slots is for --engine llamacpp only; with vLLM stage load with "
                        + "--report-queue-depth or --report-kv-usage"
                )
            }
        case .llamacpp:
            guard reportKVUsage == nil else {
                throw SimulatorOptionsError(
                    "--report-kv-usage does not apply to --engine llamacpp: llama.cpp publishes no KV-cache gauge; "
                        + "stage load with --report-busy-slots or --report-queue-depth instead"
                )
            }
            guard !priorityScheduling else {
                throw SimulatorOptionsError(
                    "--scheduling-policy priority does not apply to --engine llamacpp: llama.cpp has no priority "
                        + "scheduling and ignores a request's priority; leave the policy at fcfs"
                )
            }
        }
    }

    /// Splits a comma-separated model list (`a,b`), trimming blanks around names.
    public static func parseModels(_ list: String) -> [String] {
        guard !list.allSatisfy(\.isWhitespace) else { return [] }
        return list.split(separator: ",", omittingEmptySubsequences: false).map { name in
            guard let first = name.firstIndex(where: { !$0.isWhitespace }),
                let last = name.lastIndex(where: { !$0.isWhitespace })
            else { return "" }
            return String(name[first...last])
        }
    }

    /// The simulated time to generate `tokens` tokens.
    public func generationTime(tokens: Int) -> Duration {
        guard tokensPerSecond > 0, tokens > 0 else { return .zero }
        return .seconds(Double(tokens) / tokensPerSecond)
    }

    /// How many of `total` tokens are generated `elapsed` into a generation: the inverse of
    /// ``generationTime(tokens:)``, all of them at once when the rate is unlimited.
    public func tokensGenerated(in elapsed: Duration, of total: Int) -> Int {
        guard tokensPerSecond > 0 else { return total }
        let seconds = Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) / 1e18
        return min(max(Int((seconds * tokensPerSecond).rounded(.down)), 0), total)
    }
}
