import NIOConcurrencyHelpers

/// The metric handles of one family by label values, so the request path finds its series with
/// one hash lookup: the registry's own lookup would validate names, labels and help text and
/// build a label array on every call.
final class SeriesCache<Key: Hashable & Sendable, Series: Sendable>: Sendable {
    private let series = NIOLockedValueBox<[Key: Series]>([:])

    /// The series for `key`, made by `make` (under the lock, so only once) the first time.
    func callAsFunction(_ key: Key, make: () -> Series) -> Series {
        series.withLockedValue { series in
            if let existing = series[key] { return existing }
            let made = make()
            series[key] = made
            return made
        }
    }
}
