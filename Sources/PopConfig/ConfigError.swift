/// A problem with `popgate.toml`: which file, which key, which line, and what to do.
public struct ConfigError: Error, CustomStringConvertible, Sendable, Equatable {
    /// The file that was read.
    public let path: String
    /// The dotted key (`wireguard.listen_port`, `backends[0].url`), or nil for the whole file.
    public let key: String?
    /// The 1-based line of the key, when it could be located.
    public let line: Int?
    /// What is wrong and what to do about it.
    public let message: String

    /// Creates an error.
    public init(path: String, key: String?, line: Int?, message: String) {
        self.path = path
        self.key = key
        self.line = line
        self.message = message
    }

    public var description: String {
        var location = path
        if let line { location += ":\(line)" }
        if let key { return "\(location): \(key): \(message)" }
        return "\(location): \(message)"
    }
}
