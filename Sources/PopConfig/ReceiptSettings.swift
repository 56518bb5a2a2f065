/// `[receipts]`: the transparency log of content-free receipts popgated appends one per request to.
public struct ReceiptSettings: Sendable, Equatable {
    /// The log's directory (c2sp.org/tlog-tiles layout and `checkpoints.log`); popgated's alone.
    public var directory: String
    /// The Ed25519 seed that signs checkpoints (base64, mode 0600; made on first use).
    public var signingKeyFile: String
    /// The log's name: the checkpoints' origin line and the signing key's name.
    public var origin: String
    /// The longest a new receipt waits before a checkpoint covering it is signed.
    public var checkpointIntervalMilliseconds: Int

    public init(
        directory: String = "/var/lib/popgate/receipts", signingKeyFile: String = "/etc/popgate/keys/receipts.key",
        origin: String, checkpointIntervalMilliseconds: Int = 1000
    ) {
        self.directory = directory
        self.signingKeyFile = signingKeyFile
        self.origin = origin
        self.checkpointIntervalMilliseconds = checkpointIntervalMilliseconds
    }

    /// The origin used when none is configured: the PoP's name under `popgate.invalid` (a name
    /// that resolves nowhere, as signed-note key names need not).
    public static func defaultOrigin(popName: String) -> String {
        "popgate.invalid/\(popName)/receipts"
    }
}
