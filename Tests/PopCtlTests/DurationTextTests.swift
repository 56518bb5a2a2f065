import Foundation
@testable import PopCtl
import Testing

@Suite struct DurationTextTests {
    let now = Date(timeIntervalSince1970: 1_900_000_000)  // 2030-03-17T17:46:40Z

    @Test(arguments: [("30d", 2_592_000.0), ("12h", 43_200), ("90m", 5400), ("45s", 45)])
    func durations(text: String, seconds: TimeInterval) throws {
        #expect(try DurationText.seconds(text, option: "--grace") == seconds)
        #expect(try DurationText.instant(text, option: "--expires", now: now) == now.addingTimeInterval(seconds))
    }

    @Test func isoDatesAndTimes() throws {
        let formatter = ISO8601DateFormatter()
        #expect(
            try DurationText.instant("2030-04-01", option: "--expires", now: now)
                == formatter.date(from: "2030-04-01T00:00:00Z")
        )
        #expect(
            try DurationText.instant("2030-04-01T18:00:00+02:00", option: "--expires", now: now)
                == formatter.date(from: "2030-04-01T16:00:00Z")
        )
        #expect(
            try DurationText.instant("2030-03-17T17:46:41Z", option: "--expires", now: now) == now.addingTimeInterval(1)
        )
    }

    @Test(arguments: [
        ("2030-03-17T17:46:40Z", "not in the future"),
        ("2020-01-01", "not in the future"),
        ("2030-04-01T18:00:00", "no time zone"),
        ("2030-04-01T25:00:00Z", "neither a duration"),
        ("2030-04-01 18:00:00Z", "neither a duration"),
        ("0d", "longer than zero"),
        ("1y", "neither a duration"),
        ("soon", "neither a duration"),
        ("-5m", "neither a duration"),
        ("999999999d", "longer than 100 years"),
    ])
    func badInstantsSayWhatToWrite(text: String, reason: String) {
        #expect {
            try DurationText.instant(text, option: "--expires", now: now)
        } throws: { error in
            let message = "\(error)"
            return message.hasPrefix("--expires: ") && message.contains(reason)
        }
    }

    @Test func aGracePeriodIsADurationNotADate() {
        #expect { try DurationText.seconds("2030-04-01", option: "--grace") } throws: {
            "\($0)".contains("not a duration")
        }
        #expect { try DurationText.seconds("0h", option: "--grace") } throws: { "\($0)".contains("longer than zero") }
    }
}
