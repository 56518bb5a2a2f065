/// The `GET /v1/models` answer.
public struct ModelList: Sendable, Equatable, Codable {
    /// One served model.
    public struct Model: Sendable, Equatable, Codable {
        /// The name clients put in `model`.
        public var id: String
        /// Always `model`.
        public var object: String
        /// A fixed timestamp, so listings are byte-for-byte stable.
        public var created: Int
        /// Always `popgate-sim`.
        public var ownedBy: String

        /// The listing entry for `id`.
        public init(id: String) {
            self.id = id
            self.object = "model"
            self.created = 1_700_000_000
            self.ownedBy = "popgate-sim"
        }

        enum CodingKeys: String, CodingKey {
            case id, object, created
            case ownedBy = "owned_by"
        }
    }

    /// Always `list`.
    public var object: String
    /// The models, in the order they were configured.
    public var data: [Model]

    /// The listing of `models`, in order.
    public init(models: [String]) {
        self.object = "list"
        self.data = models.map(Model.init(id:))
    }
}
