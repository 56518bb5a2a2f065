/// llama-server's `GET /props`, reduced to the members a router reads or may read: the slot count
/// (`total_slots`, the denominator of its busy share), the served model's alias and the context a
/// slot holds, in the real server's nesting. The sampling defaults, chat template and tokens it
/// also sends describe a model the simulator does not have.
public struct LlamaCppProps: Sendable, Equatable, Codable {
    /// The defaults a request starts from.
    public struct GenerationSettings: Sendable, Equatable, Codable {
        /// The context of one slot, in tokens.
        public var nCtx: Int

        enum CodingKeys: String, CodingKey {
            case nCtx = "n_ctx"
        }
    }

    /// The slot's defaults.
    public var defaultGenerationSettings: GenerationSettings
    /// How many requests are processed at once (llama-server's `--parallel`).
    public var totalSlots: Int
    /// The name the model is served under (`--alias`).
    public var modelAlias: String
    /// The model file; the simulator names itself.
    public var modelPath: String
    /// The build, as in `system_fingerprint`.
    public var buildInfo: String
    /// Whether `/metrics` is served: always, as a PoP starts llama-server with `--metrics`.
    public var endpointMetrics: Bool
    /// Whether `/slots` is served: never by the simulator.
    public var endpointSlots: Bool
    /// Whether the model was unloaded to save memory: never.
    public var isSleeping: Bool

    /// A slot's context when llama-server is given none of its own: the simulator has no context
    /// limit, and reports what the repository's tiny test model holds.
    public static let contextPerSlot = 16384

    /// The properties of a simulator serving `options`.
    public init(options: SimulatorOptions) {
        defaultGenerationSettings = GenerationSettings(nCtx: Self.contextPerSlot)
        totalSlots = options.maxRunning
        modelAlias = options.models[0]
        modelPath = "popgate-inference-sim"
        buildInfo = LlamaCppAnswers.systemFingerprint
        endpointMetrics = true
        endpointSlots = false
        isSleeping = false
    }

    enum CodingKeys: String, CodingKey {
        case defaultGenerationSettings = "default_generation_settings"
        case totalSlots = "total_slots"
        case modelAlias = "model_alias"
        case modelPath = "model_path"
        case buildInfo = "build_info"
        case endpointMetrics = "endpoint_metrics"
        case endpointSlots = "endpoint_slots"
        case isSleeping = "is_sleeping"
    }
}
