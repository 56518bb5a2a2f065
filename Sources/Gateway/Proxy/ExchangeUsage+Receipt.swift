import Receipts

extension Receipt.Usage {
    /// The receipt's form of a request's tokens: counts past what a receipt holds stay at its maximum.
    init(_ usage: ProxyExchangeStateMachine.Usage) {
        let tokens = usage.tokens
        let source: UsageSource =
            switch usage {
            case .reported: .reported
            case .counted: .counted
            }
        self.init(
            promptTokens: UInt32(clamping: tokens.prompt), completionTokens: UInt32(clamping: tokens.completion),
            source: source
        )
    }
}

extension ProxyExchangeStateMachine.Usage {
    /// `reported` or `counted`, as the receipt and the log say it.
    var sourceName: String {
        switch self {
        case .reported: UsageSource.reported.rawValue
        case .counted: UsageSource.counted.rawValue
        }
    }
}
