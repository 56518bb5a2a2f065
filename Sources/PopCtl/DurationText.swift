import Foundation

/// Durations and instants as operators type them: `90s`, `90m`, `12h`, `30d`, or an ISO 8601
/// date (`2026-03-31`, midnight UTC) or date and time with a zone (`2026-03-31T18:00:00Z`).
enum DurationText {
    private static let units: [Character: TimeInterval] = ["s": 1, "m": 60, "h": 3600, "d": 86_400]
    /// A hundred years: longer is a typo, and would overflow dates.
    private static let longest: TimeInterval = 36_500 * 86_400
    static let examples = "30d, 12h, 90m or 45s"

    /// Seconds in a duration such as `12h`; `option` names the flag in errors.
    static func seconds(_ text: String, option: String) throws(PopctlError) -> TimeInterval {
        guard let seconds = parseDuration(text) else {
            throw PopctlError("\(option): \"\(text)\" is not a duration; write a number and a unit, e.g. \(examples)")
        }
        guard seconds > 0 else {
            throw PopctlError("\(option): the duration must be longer than zero, e.g. \(examples)")
        }
        guard seconds <= longest else {
            throw PopctlError("\(option): \(text) is longer than 100 years; check the number")
        }
        return seconds
    }

    /// The instant `text` names: `now` plus a duration, or an ISO 8601 date or time. It must be
    /// after `now`.
    static func instant(_ text: String, option: String, now: Date) throws(PopctlError) -> Date {
        let date: Date
        if parseDuration(text) != nil {
            date = now.addingTimeInterval(try seconds(text, option: option))
        } else if let parsed = parseDate(text) {
            date = parsed
        } else if looksLikeLocalTime(text) {
            throw PopctlError(
                "\(option): \"\(text)\" has no time zone; add Z for UTC or an offset, e.g. \(text)Z or \(text)+01:00"
            )
        } else {
            throw PopctlError(
                "\(option): \"\(text)\" is neither a duration (\(examples)) nor an ISO 8601 date or time "
                    + "(2026-03-31, 2026-03-31T18:00:00Z)"
            )
        }
        guard date > now else {
            let formatter = ISO8601DateFormatter()
            throw PopctlError(
                "\(option): \(formatter.string(from: date)) is not in the future (now \(formatter.string(from: now))); "
                    + "give a later date or a duration such as 30d"
            )
        }
        return date
    }

    private static func parseDuration(_ text: String) -> TimeInterval? {
        guard let unit = text.last, let scale = units[unit], text.count > 1 else { return nil }
        let digits = text.dropLast()
        guard digits.utf8.count <= 12, digits.allSatisfy(\.isASCIIDigit), let value = Double(digits) else { return nil }
        return value * scale
    }

    private static func parseDate(_ text: String) -> Date? {
        // A date, or a date and time with seconds, an optional fraction and a zone (RFC 3339). The shape
        // is checked first because the formatter is lenient: with .withFullDate alone it reads
        // "2030-04-01T25:00:00Z" as midnight.
        let shape = /[0-9]{4}-[0-9]{2}-[0-9]{2}(T[0-9]{2}:[0-9]{2}:[0-9]{2}(\.[0-9]+)?(Z|[+-][0-9]{2}:[0-9]{2}))?/
        guard text.wholeMatch(of: shape) != nil else { return nil }
        let formatter = ISO8601DateFormatter()
        let choices: [ISO8601DateFormatter.Options] = text.utf8.count == 10
            ? [[.withFullDate]] : [[.withInternetDateTime], [.withInternetDateTime, .withFractionalSeconds]]
        for options in choices {
            formatter.formatOptions = options
            if let date = formatter.date(from: text) { return date }
        }
        return nil
    }

    private static func looksLikeLocalTime(_ text: String) -> Bool {
        text.wholeMatch(of: /[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}(:[0-9]{2}(\.[0-9]+)?)?/) != nil
    }
}

extension Character {
    fileprivate var isASCIIDigit: Bool { isASCII && isNumber }
}
