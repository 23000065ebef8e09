import Foundation
import Synchronization

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

    /// More than the difference between any two offsets of one zone (tzdata's largest is 2 hours).
    private static let maximumShift: Int64 = 3 * 3_600
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
        // A wall time is an instant plus the zone's offset then. The first wall time that can stand for an
        // instant after `after` is `after`'s own, unless the clocks go back within `maximumShift`: then the
        // repeated wall times after the change come first. Once a candidate is found, a later wall time can
        // stand for an earlier instant (still after `after`) only across a change between the two. Between
        // these bounds the search looks at every matching wall time: about an hour of them for a cron every
        // second in the hour before the clocks go back, a few otherwise.
        let zone = ZoneOffsets(timeZone)
        let first = after.saturatingAdding(1)
        var from = first.saturatingAdding(Int64(zone.offset(at: first)))
        if let change = zone.change(after: first, within: Self.maximumShift) {
            from = min(from, change.saturatingAdding(Int64(zone.offset(at: change))))
        }
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
                    for candidate in instants(ofWall: wall, zone) where candidate > after && candidate < best ?? .max {
                        best = candidate
                        limit = candidate.saturatingAdding(Int64(zone.offset(at: candidate)))
                        // Instants in (first, candidate) across a change stand for wall times up to the change's.
                        let span = min(candidate.saturatingSubtracting(first), Self.maximumShift)
                        if let change = zone.change(after: candidate.saturatingSubtracting(span), within: span) {
                            let before = change.saturatingSubtracting(1)
                            limit = max(limit, before.saturatingAdding(Int64(zone.offset(at: before))))
                        }
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
    private func instants(ofWall wall: Int64, _ zone: ZoneOffsets) -> [Int64] {
        let before = zone.offset(at: wall.saturatingSubtracting(86_400))
        let after = zone.offset(at: wall.saturatingAdding(86_400))
        var valid: [Int64] = []
        for offset in Set([before, after]) {
            let candidate = wall.saturatingSubtracting(Int64(offset))
            if candidate.saturatingAdding(Int64(zone.offset(at: candidate))) == wall { valid.append(candidate) }
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
            if zone.offset(at: middle) == after { high = middle } else { low = middle + 1 }
        }
        return [low]
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

/// A zone's offsets from UTC (seconds), read from the tz database once per stretch of one offset and kept
/// for the process (a few stretches per zone): a search for the next instant can ask for thousands of instants
/// near each other (a cron every second near a change of the clocks), and the database is slow to ask.
///
/// A stretch is assumed to run at least three days either side of what was asked unless the offset differs
/// there (then the change is found by bisection): changes of the clocks are months apart.
struct ZoneOffsets {
    private typealias Stretch = (start: Int64, end: Int64, offset: Int)
    private let zone: TimeZone
    private static let reach: Int64 = 3 * 86_400
    /// Per zone identifier, the stretches found lately, newest last.
    private static let known = Mutex<[String: [Stretch]]>([:])
    private static let keptPerZone = 16

    init(_ zone: TimeZone) {
        self.zone = zone
    }

    func offset(at seconds: Int64) -> Int {
        let identifier = zone.identifier
        let found = Self.known.withLock { known in
            known[identifier]?.last { $0.start <= seconds && seconds <= $0.end }?.offset
        }
        if let found { return found }
        let offset = lookup(seconds)
        let low = seconds.saturatingSubtracting(Self.reach)
        let high = seconds.saturatingAdding(Self.reach)
        let start = lookup(low) == offset ? low : firstInstant(after: low, upTo: seconds) { $0 == offset }
        let end = lookup(high) == offset ? high : firstInstant(after: seconds, upTo: high) { $0 != offset } - 1
        Self.known.withLock { known in
            var stretches = known[identifier] ?? []
            stretches.append((start, end, offset))
            if stretches.count > Self.keptPerZone { stretches.removeFirst(stretches.count - Self.keptPerZone) }
            known[identifier] = stretches
        }
        return offset
    }

    /// The first instant in `(instant, instant + window]` whose offset differs from `instant`'s, if any.
    func change(after instant: Int64, within window: Int64) -> Int64? {
        let offset = self.offset(at: instant)
        let end = instant.saturatingAdding(window)
        guard self.offset(at: end) != offset else { return nil }
        let identifier = zone.identifier
        let known = Self.known.withLock { known in
            known[identifier]?.last { $0.start <= instant && instant <= $0.end }?.end
        }
        if let known, known < end { return known + 1 }
        return firstInstant(after: instant, upTo: end) { $0 != offset }
    }

    /// The first instant in `(low, high]` whose offset satisfies `test` (which the offset at `high` does and
    /// the one at `low` does not), by bisection.
    private func firstInstant(after low: Int64, upTo high: Int64, where test: (Int) -> Bool) -> Int64 {
        var low = low
        var high = high
        while high - low > 1 {
            let middle = low + (high - low) / 2
            if test(lookup(middle)) { high = middle } else { low = middle }
        }
        return high
    }

    private func lookup(_ seconds: Int64) -> Int {
        zone.secondsFromGMT(for: Date(timeIntervalSince1970: TimeInterval(seconds)))
    }
}
