import Foundation

/// Why a schedule was refused: the field and what is accepted.
public struct ScheduleRuleError: Error, Hashable, Sendable, CustomStringConvertible {
    public var message: String
    public var description: String { message }

    public init(_ message: String) {
        self.message = message
    }
}

/// When a schedule fires, Temporal's `ScheduleSpec` in the small: any number of cron expressions in one time
/// zone and any number of fixed intervals; the schedule fires at every instant any of them gives (an instant
/// two of them give fires once).
public struct ScheduleSpec: Hashable, Sendable {
    /// A fixed interval: every instant `offset + n × every` since the UNIX epoch (absolute time, no time zone).
    public struct Interval: Hashable, Sendable {
        public var every: Int64
        public var offset: Int64

        public init(every: Int64, offset: Int64 = 0) {
            self.every = every
            self.offset = offset
        }

        func next(after instant: Int64) -> Int64? {
            guard every > 0 else { return nil }
            let steps = instant.saturatingSubtracting(offset).floorDivided(by: every).saturatingAdding(1)
            let next = offset.saturatingAdding(steps.saturatingMultiplied(by: every))
            return next > instant && next < Int64.max ? next : nil
        }
    }

    public let cron: [CronSchedule]
    public let intervals: [Interval]

    /// The shortest interval accepted: one second, the granularity of cron.
    public static let minimumInterval: Int64 = 1_000

    public init(cron: [CronSchedule], intervals: [Interval]) {
        self.cron = cron
        self.intervals = intervals
    }

    /// Reads a spec as the admin API and `keel.triggers` give it; errors name the field.
    public init(
        cron: [String],
        intervals: [(every: String, offset: String?)],
        timeZone: String?
    ) throws(ScheduleRuleError) {
        guard !cron.isEmpty || !intervals.isEmpty else {
            throw ScheduleRuleError(
                "spec: give \"cron\" (for example [\"0 2 * * *\"]) or \"interval\" (for example [{\"every\": \"15m\"}])"
            )
        }
        var schedules: [CronSchedule] = []
        for (index, text) in cron.enumerated() {
            do {
                schedules.append(try CronSchedule(parsing: text, timeZone: timeZone))
            } catch {
                let field = error.message.hasPrefix("unknown time zone") ? "spec.timeZone" : "spec.cron[\(index)]"
                throw ScheduleRuleError("\(field): \(error.message)")
            }
        }
        if let timeZone, TimeZone(identifier: timeZone) == nil {
            throw ScheduleRuleError(
                "spec.timeZone: unknown time zone '\(timeZone)'; use an IANA name such as Europe/Berlin or UTC"
            )
        }
        var parsed: [Interval] = []
        for (index, interval) in intervals.enumerated() {
            guard let every = DurationParser.parse(interval.every)?.saturatingMilliseconds,
                every >= Self.minimumInterval
            else {
                throw ScheduleRuleError(
                    "spec.interval[\(index)].every: '\(interval.every)' is not a duration of at least 1s (\(DurationParser.formats))"
                )
            }
            var offset: Int64 = 0
            if let text = interval.offset {
                guard let value = DurationParser.parse(text)?.saturatingMilliseconds, value >= 0, value < every else {
                    throw ScheduleRuleError(
                        "spec.interval[\(index)].offset: '\(text)' is not a duration shorter than 'every'"
                    )
                }
                offset = value
            }
            parsed.append(Interval(every: every, offset: offset))
        }
        self.init(cron: schedules, intervals: parsed)
    }

    /// The first instant strictly after `instant` at which the schedule fires; nil when it never does.
    public func next(after instant: Int64) -> Int64? {
        let candidates = cron.compactMap { $0.next(after: instant) } + intervals.compactMap { $0.next(after: instant) }
        return candidates.min()
    }

    /// The next `count` instants after `instant`.
    public func next(_ count: Int, after instant: Int64) -> [Int64] {
        var times: [Int64] = []
        var cursor = instant
        while times.count < count, let time = next(after: cursor) {
            times.append(time)
            cursor = time
        }
        return times
    }
}
