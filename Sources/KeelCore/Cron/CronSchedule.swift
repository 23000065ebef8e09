import Foundation

/// A cron expression in a time zone: the instants (epoch milliseconds) it fires at.
///
/// The wall clock decides, with the rule Vixie cron applies when the clocks change:
/// - a schedule with a fixed hour fires once for a wall time the clocks repeat (at its first occurrence), and
///   a wall time the clocks skip fires at the instant they jump (`30 2 * * *` in Europe/Berlin runs once on
///   each day the clocks change: at 03:00 in spring, at the first 02:30 in autumn);
/// - a schedule that runs every hour (`*` in the hour field, as in `*/15 * * * *`) follows absolute time: it
///   fires in both runs of a repeated hour and not at all in a skipped one.
///
/// Pure: time is an argument, and the zone's rules come from the system's tz database.
public struct CronSchedule: Hashable, Sendable {
    public let expression: CronExpression
    public let timeZone: TimeZone

    /// How far ahead to look for a match: a February 29th can be 8 years away.
    private static let horizonDays: Int64 = 8 * 366 + 1
    /// 9999-12-31T23:59:59Z in epoch ms.
    private static let endOfTime: Int64 = 253_402_300_799_000

    public init(_ expression: CronExpression, timeZone: TimeZone) {
        self.expression = expression
        self.timeZone = timeZone
    }

    /// Parses an expression and an IANA time zone name (UTC when nil).
    public init(parsing text: String, timeZone name: String? = nil) throws(CronExpression.ParseError) {
        let expression = try CronExpression(parsing: text)
        guard let zone = name.map({ TimeZone(identifier: $0) }) ?? TimeZone(identifier: "UTC") else {
            throw CronExpression.ParseError(
                message:
                    "unknown time zone '\(name ?? "")'; use an IANA name such as Europe/Berlin, America/New_York or UTC"
            )
        }
        self.init(expression, timeZone: zone)
    }

    /// The first instant strictly after `instant` (epoch ms) at which the schedule fires; nil when it never
    /// does (`0 0 30 2 *`).
    public func next(after instant: Int64) -> Int64? {
        // Years 1970 to 9999: beyond that there is nothing to schedule, and the arithmetic below stays small.
        guard instant >= 0, instant < Self.endOfTime else { return nil }
        let after = instant.floorDivided(by: 1_000)
        // A wall time maps to an instant by an offset the zone has near it. No wall time up to `after` plus the
        // smallest offset near `after` maps to an instant after it; and once a candidate is found, no wall time
        // beyond it plus the largest offset near it maps to an earlier instant. Between the two, wall order and
        // instant order differ only across a change of the clocks.
        let from = after.saturatingAdding(Int64(offsets(around: after).min)).saturatingAdding(1)
        var best: Int64?
        var limit = Int64.max
        var day = from.floorDivided(by: 86_400)
        let lastDay = day.saturatingAdding(Self.horizonDays)
        while day <= lastDay {
            let dayStart = day.saturatingMultiplied(by: 86_400)
            if dayStart > limit { break }
            let (_, month, dayOfMonth) = Self.civil(fromDays: day)
            if expression.matchesDay(month: month, day: dayOfMonth, weekday: Self.weekday(ofDays: day)) {
                let finished = forEachWallTime(on: dayStart, from: from) { wall in
                    if wall > limit { return false }
                    for candidate in instants(ofWall: wall) where candidate > after && candidate < best ?? .max {
                        best = candidate
                        limit = candidate.saturatingAdding(Int64(offsets(around: candidate).max))
                    }
                    return true
                }
                if !finished { break }
            }
            day += 1
        }
        return best.map { $0.saturatingMultiplied(by: 1_000) }
    }

    /// The next `count` instants after `instant` (for "next runs" in a schedule's description).
    public func next(_ count: Int, after instant: Int64) -> [Int64] {
        var times: [Int64] = []
        var cursor = instant
        while times.count < count, let time = next(after: cursor) {
            times.append(time)
            cursor = time
        }
        return times
    }

    /// Calls `body` with the matching wall times (seconds, wall clock read as UTC) of the day starting at
    /// `dayStart`, from `from` on, in order, until it returns false; returns false when `body` stopped it.
    private func forEachWallTime(on dayStart: Int64, from: Int64, _ body: (Int64) -> Bool) -> Bool {
        let minutes = expression.minutes.values
        let seconds = expression.seconds.values
        for hour in expression.hours.values where dayStart + Int64(hour) * 3_600 + 3_599 >= from {
            let hourStart = dayStart + Int64(hour) * 3_600
            for minute in minutes where hourStart + Int64(minute) * 60 + 59 >= from {
                let minuteStart = hourStart + Int64(minute) * 60
                for second in seconds where minuteStart + Int64(second) >= from {
                    if !body(minuteStart + Int64(second)) { return false }
                }
            }
        }
        return true
    }

    /// The instants (seconds) a wall time stands for under the rule above: one; none or the instant of the
    /// jump when the clocks skip it; one or both when they repeat it.
    private func instants(ofWall wall: Int64) -> [Int64] {
        let before = offset(at: wall.saturatingSubtracting(86_400))
        let after = offset(at: wall.saturatingAdding(86_400))
        var valid: [Int64] = []
        for offset in Set([before, after]) {
            let candidate = wall.saturatingSubtracting(Int64(offset))
            if candidate.saturatingAdding(Int64(self.offset(at: candidate))) == wall { valid.append(candidate) }
        }
        valid.sort()
        if valid.count > 1 { return expression.followsAbsoluteTime ? valid : [valid[0]] }
        if !valid.isEmpty { return valid }
        guard !expression.followsAbsoluteTime, after > before else { return [] }
        // Skipped (the clocks jumped from `before` to `after`): the jump's instant, found by bisection.
        var low = wall.saturatingSubtracting(Int64(after))
        var high = wall.saturatingSubtracting(Int64(before))
        while low < high {
            let middle = low + (high - low) / 2
            if offset(at: middle) == after { high = middle } else { low = middle + 1 }
        }
        return [low]
    }

    /// The smallest and largest offset the zone has within two days of `seconds` (changes of the clocks are
    /// months apart, so these are the offsets on both sides of any change near it).
    private func offsets(around seconds: Int64) -> (min: Int, max: Int) {
        let samples = [-172_800, 0, 172_800].map { offset(at: seconds.saturatingAdding($0)) }
        return (samples.min() ?? 0, samples.max() ?? 0)
    }

    private func offset(at seconds: Int64) -> Int {
        timeZone.secondsFromGMT(for: Date(timeIntervalSince1970: TimeInterval(seconds)))
    }

    /// The civil date of a day number (days since 1970-01-01), proleptic Gregorian.
    static func civil(fromDays days: Int64) -> (year: Int64, month: Int, day: Int) {
        let shifted = days + 719_468
        let era = (shifted >= 0 ? shifted : shifted - 146_096) / 146_097
        let dayOfEra = shifted - era * 146_097
        let yearOfEra = (dayOfEra - dayOfEra / 1_460 + dayOfEra / 36_524 - dayOfEra / 146_096) / 365
        let dayOfYear = dayOfEra - (365 * yearOfEra + yearOfEra / 4 - yearOfEra / 100)
        let monthIndex = (5 * dayOfYear + 2) / 153
        let day = Int(dayOfYear - (153 * monthIndex + 2) / 5 + 1)
        let month = Int(monthIndex < 10 ? monthIndex + 3 : monthIndex - 9)
        return (yearOfEra + era * 400 + (month <= 2 ? 1 : 0), month, day)
    }

    /// 0 = Sunday (1970-01-01 was a Thursday).
    static func weekday(ofDays days: Int64) -> Int {
        Int(((days % 7) + 7 + 4) % 7)
    }
}
