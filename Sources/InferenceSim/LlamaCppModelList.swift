/// llama-server's `GET /v1/models`: an Ollama-style `models` array beside the OpenAI `data` array,
/// one entry in each per served model. Routers read the ids under `data`; the rest is the real
/// server's shape with the values of a model the simulator does not have left empty or fixed.
public struct LlamaCppModelList: Sendable, Equatable, Codable {
    /// An entry of the Ollama-style listing.
    public struct OllamaModel: Sendable, Equatable, Codable {
        /// Ollama's description of a model's file.
        public struct Details: Sendable, Equatable, Codable {
            var parentModel = ""
            var format = "gguf"
            var family = ""
            var families = [""]
            var parameterSize = ""
            var quantizationLevel = ""

            enum CodingKeys: String, CodingKey {
                case format, family, families
                case parentModel = "parent_model"
                case parameterSize = "parameter_size"
                case quantizationLevel = "quantization_level"
            }
        }

        /// The model's name, as in `model`.
        public var name: String
        /// The model's name.
        public var model: String
        var modifiedAt = ""
        var size = ""
        var digest = ""
        var type = "model"
        var description = ""
        var tags = [""]
        /// What the server does with it: `completion` for a chat server.
        public var capabilities = ["completion"]
        var parameters = ""
        var details = Details()

        /// The entry for `name`.
        public init(name: String) {
            self.name = name
            self.model = name
        }

        enum CodingKeys: String, CodingKey {
            case name, model, size, digest, type, description, tags, capabilities, parameters, details
            case modifiedAt = "modified_at"
        }
    }

    /// An entry of the OpenAI listing.
    public struct Model: Sendable, Equatable, Codable {
        /// What the model reads and writes.
        public struct Architecture: Sendable, Equatable, Codable {
            var inputModalities = ["text"]
            var outputModalities = ["text"]

            enum CodingKeys: String, CodingKey {
                case inputModalities = "input_modalities"
                case outputModalities = "output_modalities"
            }
        }

        /// The model file's numbers; llama-server reads them from the GGUF.
        public struct Meta: Sendable, Equatable, Codable {
            var vocabType = 1
            var nVocab = 32000
            var nCtx = LlamaCppProps.contextPerSlot
            var nCtxTrain = LlamaCppProps.contextPerSlot
            var nEmbd = 64
            var nParams = 0
            var size = 0
            var ftype = "all F32"

            enum CodingKeys: String, CodingKey {
                case size, ftype
                case vocabType = "vocab_type"
                case nVocab = "n_vocab"
                case nCtx = "n_ctx"
                case nCtxTrain = "n_ctx_train"
                case nEmbd = "n_embd"
                case nParams = "n_params"
            }
        }

        /// The name clients put in `model`.
        public var id: String
        /// The names it is served under: its id.
        public var aliases: [String]
        var tags: [String] = []
        /// Always `model`.
        public var object = "model"
        var architecture = Architecture()
        /// A fixed timestamp, so listings are byte-for-byte stable (llama-server sends the time of
        /// the request).
        public var created = 1_700_000_000
        /// Always `llamacpp`.
        public var ownedBy = "llamacpp"
        var meta = Meta()

        /// The entry for `id`.
        public init(id: String) {
            self.id = id
            self.aliases = [id]
        }

        enum CodingKeys: String, CodingKey {
            case id, aliases, tags, object, architecture, created, meta
            case ownedBy = "owned_by"
        }
    }

    /// The Ollama-style listing.
    public var models: [OllamaModel]
    /// Always `list`.
    public var object = "list"
    /// The OpenAI listing.
    public var data: [Model]

    /// The listing of `models`, in order.
    public init(models: [String]) {
        self.models = models.map(OllamaModel.init(name:))
        self.data = models.map(Model.init(id:))
    }
}
