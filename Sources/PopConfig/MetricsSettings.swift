import Addressing

/// The `[metrics]` section: where popgated serves Prometheus text (`GET /metrics`) to the operator.
///
/// Metrics say which tenants use the PoP and how much, so they are served on the management
/// address only: never on the tunnel address, where peers could read them.
public struct MetricsSettings: Sendable, Equatable {
    /// The management address and TCP port of the metrics listener (`192.0.2.1:9100`).
    public var listen: SocketEndpoint

    /// Creates the settings.
    public init(listen: SocketEndpoint) {
        self.listen = listen
    }
}
