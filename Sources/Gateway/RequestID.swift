import Sodium

/// A random request id (128 bits, hex), returned as `X-Request-Id` and used in logs.
enum RequestID {
    static func make() -> String { "req_" + Hex.encode(Random.bytes(16)) }
}
