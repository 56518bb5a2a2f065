/// Reads sample values out of the Prometheus text exposition format, as the workers' `/metrics`
/// endpoints serve it. Just enough for load figures: no types, no timestamps, no escapes in labels.
package enum PrometheusText {
    /// The sum of every sample of `metric` (over all its label sets), or nil when it has none.
    /// vLLM labels each figure by model; a worker serving two models is as loaded as both together.
    package static func sum(of metric: String, in text: String) -> Double? {
        var total: Double?
        for line in text.split(whereSeparator: \.isNewline) where !line.hasPrefix("#") {
            guard line.hasPrefix(metric) else { continue }
            let rest = line.dropFirst(metric.utf8.count)
            let afterLabels: Substring
            if rest.first == "{" {
                guard let close = rest.lastIndex(of: "}") else { continue }
                afterLabels = rest[rest.index(after: close)...]
            } else if rest.first == " " {
                afterLabels = rest
            } else {
                continue  // another metric whose name starts with this one
            }
            guard let token = afterLabels.split(separator: " ").first, let value = Double(token), value.isFinite else {
                continue
            }
            total = (total ?? 0) + value
        }
        return total
    }
}
