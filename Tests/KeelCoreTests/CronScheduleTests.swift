import Foundation
import KeelCore
import Testing

@Suite("Cron expressions and the instants they fire at, across changes of the clocks")
struct CronScheduleTests {
    /// Epoch milliseconds of an RFC 3339 instant.
    static func ms(_ text: String) -> Int64 {
        let formatter = ISO8601DateFormatter()
        guard let date = formatter.date(from: text) else { return -1 }
        return Int64(date.timeIntervalSince1970 * 1_000)
    }

    static func text(_ instant: Int64) -> String {
        ISO8601DateFormatter().string(from: Date(timeIntervalSince1970: TimeInterval(instant) / 1_000))
    }

    /// The instants after `start` up to `end`, as RFC 3339 text.
    static func fires(_ cron: String, zone: String = "UTC", from start: String, to end: String) throws -> [String] {
        let schedule = try CronSchedule(parsing: cron, timeZone: zone)
        var times: [String] = []
        var cursor = ms(start)
        while let next = schedule.next(after: cursor), next <= ms(end) {
            times.append(text(next))
            cursor = next
        }
        return times
    }

    @Test(
        "what is refused, and the error names the field and what is accepted",
        arguments: [
            ("", "0 fields"), ("* * * *", "4 fields"), ("* * * * * * *", "7 fields"),
            ("60 * * * *", "minute field '60': 60 is outside 0–59"), ("* 24 * * *", "hour field"),
            ("* * 0 * *", "day of month field"), ("* * * 13 *", "month field"), ("* * * * 8", "day of week field"),
            ("5-1 * * * *", "runs backwards"), ("*/0 * * * *", "step"), ("* * * FOO *", "'FOO' is not a number"),
            ("1,,2 * * * *", "empty list item"), ("@every 1h", "@every is an interval"),
            ("@sometimes", "not a cron macro"),
        ]
    )
    func refused(cron: String, reason: String) {
        #expect {
            _ = try CronExpression(parsing: cron)
        } throws: { error in
            "\(error)".contains(reason)
        }
    }

    @Test("an unknown time zone is refused with a hint")
    func unknownZone() {
        #expect {
            _ = try CronSchedule(parsing: "0 2 * * *", timeZone: "Mars/Olympus")
        } throws: { error in
            "\(error)".contains("unknown time zone 'Mars/Olympus'") && "\(error)".contains("IANA")
        }
    }

    @Test(
        "next instants in UTC",
        arguments: [
            (
                "*/15 * * * *", "2026-05-04T10:07:30Z", "2026-05-04T10:45:00Z",
                ["2026-05-04T10:15:00Z", "2026-05-04T10:30:00Z", "2026-05-04T10:45:00Z"]
            ),
            // Strictly after: a tick at the start instant is not repeated.
            (
                "0 2 * * *", "2026-05-04T02:00:00Z", "2026-05-06T02:00:00Z",
                ["2026-05-05T02:00:00Z", "2026-05-06T02:00:00Z"]
            ),
            // Six fields: seconds first.
            (
                "30 * * * * *", "2026-05-04T10:00:00Z", "2026-05-04T10:02:00Z",
                ["2026-05-04T10:00:30Z", "2026-05-04T10:01:30Z"]
            ),
            (
                "@hourly", "2026-05-04T10:00:00Z", "2026-05-04T12:00:00Z",
                ["2026-05-04T11:00:00Z", "2026-05-04T12:00:00Z"]
            ),
            // Names, and 7 is Sunday: 2026-05-10 and 2026-05-17 are Sundays.
            (
                "0 9 * MAY 7", "2026-05-04T00:00:00Z", "2026-05-18T00:00:00Z",
                ["2026-05-10T09:00:00Z", "2026-05-17T09:00:00Z"]
            ),
            // Vixie's OR: the 13th, or any Friday (2026-11-06 and 2026-11-13 are Fridays).
            (
                "0 0 13 * FRI", "2026-11-01T00:00:00Z", "2026-11-14T00:00:00Z",
                ["2026-11-06T00:00:00Z", "2026-11-13T00:00:00Z"]
            ),
            // A 29th of February is years away.
            ("0 0 29 2 *", "2026-01-01T00:00:00Z", "2029-01-01T00:00:00Z", ["2028-02-29T00:00:00Z"]),
            (
                "1-3/2 0 1 1 *", "2026-01-01T00:00:00Z", "2026-01-01T01:00:00Z",
                ["2026-01-01T00:01:00Z", "2026-01-01T00:03:00Z"]
            ),
        ] as [(String, String, String, [String])]
    )
    func utc(cron: String, from: String, to: String, expected: [String]) throws {
        #expect(try Self.fires(cron, from: from, to: to) == expected)
    }

    @Test("a date that never comes (30 February) has no next time, and absurd instants none either")
    func never() throws {
        let schedule = try CronSchedule(parsing: "0 0 30 2 *")
        #expect(schedule.next(after: Self.ms("2026-01-01T00:00:00Z")) == nil)
        let hourly = try CronSchedule(parsing: "@hourly")
        #expect(hourly.next(after: .max) == nil)
        #expect(hourly.next(after: .min) == nil)
        #expect(hourly.next(3, after: Self.ms("2026-01-01T00:00:00Z")).count == 3)
    }

    // Europe/Berlin in 2026: the clocks jump from 02:00 CET to 03:00 CEST on 29 March (01:00Z), and fall back
    // from 03:00 CEST to 02:00 CET on 25 October (01:00Z).

    @Test(
        "a fixed wall time fires once on each day the clocks change: at the jump in spring, the first 02:30 in autumn"
    )
    func fixedTimeAcrossChanges() throws {
        #expect(
            try Self.fires(
                "30 2 * * *",
                zone: "Europe/Berlin",
                from: "2026-03-27T00:00:00Z",
                to: "2026-03-31T00:00:00Z"
            )
                == [
                    "2026-03-27T01:30:00Z",  // 02:30 CET
                    "2026-03-28T01:30:00Z",
                    "2026-03-29T01:00:00Z",  // 02:30 does not exist: 03:00 CEST, the jump
                    "2026-03-30T00:30:00Z",  // 02:30 CEST
                ]
        )
        #expect(
            try Self.fires(
                "30 2 * * *",
                zone: "Europe/Berlin",
                from: "2026-10-24T00:00:00Z",
                to: "2026-10-27T00:00:00Z"
            )
                == [
                    "2026-10-24T00:30:00Z",  // 02:30 CEST
                    "2026-10-25T00:30:00Z",  // the first 02:30; the second (01:30Z) does not fire
                    "2026-10-26T01:30:00Z",  // 02:30 CET
                ]
        )
    }

    @Test("a schedule that runs every hour follows absolute time across the changes")
    func everyQuarterHourAcrossChanges() throws {
        // Autumn: 02:00–02:45 happen twice, and so do their ticks: every 15 minutes of absolute time.
        #expect(
            try Self.fires(
                "*/15 * * * *",
                zone: "Europe/Berlin",
                from: "2026-10-24T23:50:00Z",
                to: "2026-10-25T02:00:00Z"
            )
                == [
                    "2026-10-25T00:00:00Z", "2026-10-25T00:15:00Z", "2026-10-25T00:30:00Z", "2026-10-25T00:45:00Z",
                    "2026-10-25T01:00:00Z", "2026-10-25T01:15:00Z", "2026-10-25T01:30:00Z", "2026-10-25T01:45:00Z",
                    "2026-10-25T02:00:00Z",
                ]
        )
        // Spring: the skipped hour has no ticks; the spacing stays 15 minutes.
        #expect(
            try Self.fires(
                "*/15 * * * *",
                zone: "Europe/Berlin",
                from: "2026-03-29T00:20:00Z",
                to: "2026-03-29T01:20:00Z"
            )
                == ["2026-03-29T00:30:00Z", "2026-03-29T00:45:00Z", "2026-03-29T01:00:00Z", "2026-03-29T01:15:00Z"]
        )
    }

    @Test("a week of a daily job over the spring change runs once a day, seven times")
    func simulatedWeek() throws {
        let week = try Self.fires(
            "0 2 * * *",
            zone: "Europe/Berlin",
            from: "2026-03-25T12:00:00Z",
            to: "2026-04-01T12:00:00Z"
        )
        #expect(week.count == 7)
        #expect(week.contains("2026-03-29T01:00:00Z"))
    }

    @Test("every second, for hours on end and across a change of the clocks, each next instant is one second on")
    func everySecond() throws {
        // From 2026-10-25T00:00:00Z in UTC; from 00:58Z in Berlin, whose clocks go back at 01:00Z. (Before the
        // clocks go back a per-second cron looks at an hour of wall times per instant, so that walk is short.)
        for (zone, start, seconds) in [("UTC", 1_792_886_400_000, 12_000), ("Europe/Berlin", 1_792_889_880_000, 600)]
            as [(String, Int64, Int)]
        {
            let schedule = try CronSchedule(parsing: "* * * * * *", timeZone: zone)
            var instant = start
            for _ in 0..<seconds {
                let next = try #require(schedule.next(after: instant))
                #expect(next == instant + 1_000, "\(zone) after \(instant)")
                guard next == instant + 1_000 else { return }
                instant = next
            }
        }
    }
}
