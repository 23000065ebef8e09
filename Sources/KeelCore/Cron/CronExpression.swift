import Foundation

/// A cron expression, read as Vixie cron and Hatchet read it: five fields (minute, hour, day of month, month,
/// day of week), or six with seconds first; `*`, values, ranges `a-b`, steps `*/n` and `a-b/n`, lists, month
/// and weekday names (`JAN`, `MON`; 7 is Sunday too), and the macros `@yearly`, `@annually`, `@monthly`,
/// `@weekly`, `@daily`, `@midnight` and `@hourly`.
///
/// When both day of month and day of week are restricted, a day matches either (Vixie cron's OR; Temporal ANDs
/// them). Pure: which instants match, in which time zone, is `CronSchedule`'s.
public struct CronExpression: Hashable, Sendable, CustomStringConvertible {
    /// Why an expression was refused: which field, what it said, and what is accepted.
    public struct ParseError: Error, Hashable, Sendable, CustomStringConvertible {
        public var message: String
        public var description: String { message }
    }

    /// One field's allowed values, as a bit set (bit n: value n).
    struct Field: Hashable, Sendable {
        var bits: UInt64
        /// Written as `*` (or `?`), possibly with a step: it does not restrict the day (Vixie's rule).
        var isWildcard: Bool

        func contains(_ value: Int) -> Bool { value >= 0 && value < 64 && bits & (1 << UInt64(value)) != 0 }

        /// The allowed values in ascending order.
        var values: [Int] { (0..<64).filter(contains) }
    }

    public let text: String
    let seconds: Field
    let minutes: Field
    let hours: Field
    let daysOfMonth: Field
    let months: Field
    let daysOfWeek: Field

    public var description: String { text }

    /// The text as written, for error messages.
    static let accepted =
        "5 fields (minute hour day-of-month month day-of-week), 6 with seconds first, or @yearly, @monthly, @weekly, @daily, @hourly"

    public init(parsing text: String) throws(ParseError) {
        let trimmed = text.trimmingCharacters(in: .whitespaces)
        self.text = trimmed
        var fields = trimmed.split(whereSeparator: { $0 == " " || $0 == "\t" }).map(String.init)
        if let macro = fields.first, macro.hasPrefix("@") {
            guard fields.count == 1, let expansion = Self.macros[macro.lowercased()] else {
                if macro.lowercased() == "@every" {
                    throw ParseError(
                        message:
                            "'\(trimmed)': @every is an interval, not cron: use \"interval\": [{\"every\": \"15m\"}]"
                    )
                }
                throw ParseError(message: "'\(trimmed)' is not a cron macro; accepted: \(Self.accepted)")
            }
            fields = expansion.split(separator: " ").map(String.init)
        }
        switch fields.count {
        case 5: fields.insert("0", at: 0)
        case 6: break
        default:
            throw ParseError(message: "'\(trimmed)' has \(fields.count) fields; accepted: \(Self.accepted)")
        }
        seconds = try Self.field(fields[0], "second", 0...59, names: [:], in: trimmed)
        minutes = try Self.field(fields[1], "minute", 0...59, names: [:], in: trimmed)
        hours = try Self.field(fields[2], "hour", 0...23, names: [:], in: trimmed)
        daysOfMonth = try Self.field(fields[3], "day of month", 1...31, names: [:], in: trimmed)
        months = try Self.field(fields[4], "month", 1...12, names: Self.monthNames, in: trimmed)
        var weekdays = try Self.field(fields[5], "day of week", 0...7, names: Self.weekdayNames, in: trimmed)
        if weekdays.contains(7) { weekdays.bits = (weekdays.bits | 1) & ~(1 << 7) }  // 7 is Sunday too.
        daysOfWeek = weekdays
    }

    /// Whether the civil date matches (weekday 0 = Sunday).
    func matchesDay(month: Int, day: Int, weekday: Int) -> Bool {
        guard months.contains(month) else { return false }
        switch (daysOfMonth.isWildcard, daysOfWeek.isWildcard) {
        case (false, false): return daysOfMonth.contains(day) || daysOfWeek.contains(weekday)
        case (false, true): return daysOfMonth.contains(day)
        case (true, false): return daysOfWeek.contains(weekday)
        case (true, true): return true
        }
    }

    /// Every hour matches: around a change of the clocks the schedule follows absolute time (Vixie's rule for
    /// wildcard hours) rather than the wall clock.
    var followsAbsoluteTime: Bool { hours.bits == (1 << 24) - 1 }

    // MARK: - Parsing

    static let macros: [String: String] = [
        "@yearly": "0 0 1 1 *", "@annually": "0 0 1 1 *", "@monthly": "0 0 1 * *", "@weekly": "0 0 * * 0",
        "@daily": "0 0 * * *", "@midnight": "0 0 * * *", "@hourly": "0 * * * *",
    ]
    static let monthNames = [
        "JAN": 1, "FEB": 2, "MAR": 3, "APR": 4, "MAY": 5, "JUN": 6, "JUL": 7, "AUG": 8, "SEP": 9, "OCT": 10,
        "NOV": 11, "DEC": 12,
    ]
    static let weekdayNames = ["SUN": 0, "MON": 1, "TUE": 2, "WED": 3, "THU": 4, "FRI": 5, "SAT": 6]

    private static func field(
        _ text: String,
        _ name: String,
        _ bounds: ClosedRange<Int>,
        names: [String: Int],
        in expression: String
    ) throws(ParseError) -> Field {
        func refuse(_ reason: String) -> ParseError {
            ParseError(message: "cron '\(expression)', \(name) field '\(text)': \(reason)")
        }
        func value(_ token: Substring) throws(ParseError) -> Int {
            if let number = Int(token), bounds.contains(number) { return number }
            if let named = names[token.uppercased()] { return named }
            if Int(token) != nil {
                throw refuse("\(token) is outside \(bounds.lowerBound)–\(bounds.upperBound)")
            }
            let known = names.isEmpty ? "" : " or a name (\(names.keys.sorted().joined(separator: ", ")))"
            throw refuse("'\(token)' is not a number from \(bounds.lowerBound) to \(bounds.upperBound)\(known)")
        }
        var field = Field(bits: 0, isWildcard: text.hasPrefix("*") || text.hasPrefix("?"))
        for item in text.split(separator: ",", omittingEmptySubsequences: false) {
            guard !item.isEmpty else { throw refuse("an empty list item") }
            let parts = item.split(separator: "/", omittingEmptySubsequences: false)
            guard parts.count <= 2 else { throw refuse("'\(item)' has more than one '/'") }
            var step = 1
            if parts.count == 2 {
                guard let parsed = Int(parts[1]), parsed >= 1, parsed <= bounds.upperBound else {
                    throw refuse("the step '\(parts[1])' is not a number from 1 to \(bounds.upperBound)")
                }
                step = parsed
            }
            let range = parts[0]
            var low: Int
            var high: Int
            if range == "*" || range == "?" {
                (low, high) = (bounds.lowerBound, bounds.upperBound)
            } else if let dash = range.firstIndex(of: "-") {
                low = try value(range[..<dash])
                high = try value(range[range.index(after: dash)...])
                guard low <= high else { throw refuse("the range \(range) runs backwards") }
            } else {
                low = try value(range)
                // `a/n` means from a to the end, every n.
                high = parts.count == 2 ? bounds.upperBound : low
            }
            for allowed in stride(from: low, through: high, by: step) { field.bits |= 1 << UInt64(allowed) }
        }
        return field
    }
}
