/// The simulator's counters and gauges, shared by every connection of one server.
public actor SimulatorMetrics {
    /// The values at one instant.
    public struct Snapshot: Sendable, Equatable {
        /// Generation and embedding requests admitted and not yet finished.
        public var inFlight: Int
        /// Prompt tokens of every finished request, answered or abandoned.
        public var promptTokensTotal: Int
        /// Tokens generated, including those of streams the client abandoned.
        public var generationTokensTotal: Int
        /// Requests answered in full.
        public var requestSuccessTotal: Int
        /// Generations stopped before their answer was complete: the client left (or the server
        /// stopped), noticed when the connection closed or when a write failed.
        public var abandonedTotal: Int
        /// The `priority` of the most recently admitted request; nil when it had none (or there
        /// was no request yet).
        public var lastPriority: Int?

        /// Creates a snapshot.
        public init(
            inFlight: Int = 0, promptTokensTotal: Int = 0, generationTokensTotal: Int = 0,
            requestSuccessTotal: Int = 0, abandonedTotal: Int = 0, lastPriority: Int? = nil
        ) {
            self.inFlight = inFlight
            self.promptTokensTotal = promptTokensTotal
            self.generationTokensTotal = generationTokensTotal
            self.requestSuccessTotal = requestSuccessTotal
            self.abandonedTotal = abandonedTotal
            self.lastPriority = lastPriority
        }
    }

    private var current = Snapshot()

    /// Creates zeroed metrics.
    public init() {}

    /// The current values.
    public var snapshot: Snapshot { current }

    /// A request passed validation and starts "running" (or "waiting" beyond max-running).
    func admit(priority: Int?) {
        current.inFlight += 1
        // Overwritten even with nil, so a test can tell that the latest request carried none.
        current.lastPriority = priority
    }

    /// An admitted request ended, answered in full (`succeeded`) or cut short.
    func finish(promptTokens: Int, generatedTokens: Int, succeeded: Bool) {
        current.inFlight -= 1
        current.promptTokensTotal += promptTokens
        current.generationTokensTotal += generatedTokens
        if succeeded { current.requestSuccessTotal += 1 }
    }

    /// An admitted generation was cut short after `generatedTokens` tokens.
    func abandon(promptTokens: Int, generatedTokens: Int) {
        finish(promptTokens: promptTokens, generatedTokens: generatedTokens, succeeded: false)
        current.abandonedTotal += 1
    }
}
