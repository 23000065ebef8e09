/// Dates and times as ClickHouse writes them (UTC): `YYYY-MM-DD hh:mm:ss` and `YYYY-MM-DD`.
public enum CivilTime {
    /// `YYYY-MM-DD hh:mm:ss` for seconds since the UNIX epoch.
    public static func dateTime(_ seconds: Int64) -> String {
        let (days, remainder) = floorDivision(seconds, 86_400)
        let hour = remainder / 3_600
        let minute = remainder % 3_600 / 60
        let second = remainder % 60
        return "\(date(days)) \(twoDigits(hour)):\(twoDigits(minute)):\(twoDigits(second))"
    }

    /// `YYYY-MM-DD` for days since 1970-01-01 (proleptic Gregorian).
    public static func date(_ days: Int64) -> String {
        let (year, month, day) = civil(days)
        let yearText =
            year >= 0 && year < 10_000
            ? String(repeating: "0", count: 4 - String(year).count) + String(year) : String(year)
        return "\(yearText)-\(twoDigits(month))-\(twoDigits(day))"
    }

    /// Year, month (1–12) and day (1–31) of a day since 1970-01-01. Days are clamped to ±100 million years'
    /// worth so no arithmetic can overflow.
    public static func civil(_ days: Int64) -> (year: Int64, month: Int64, day: Int64) {
        let z = min(max(days, -36_500_000_000), 36_500_000_000) + 719_468
        let era = (z >= 0 ? z : z - 146_096) / 146_097
        let dayOfEra = z - era * 146_097
        let yearOfEra = (dayOfEra - dayOfEra / 1_460 + dayOfEra / 36_524 - dayOfEra / 146_096) / 365
        let dayOfYear = dayOfEra - (365 * yearOfEra + yearOfEra / 4 - yearOfEra / 100)
        let shiftedMonth = (5 * dayOfYear + 2) / 153
        let day = dayOfYear - (153 * shiftedMonth + 2) / 5 + 1
        let month = shiftedMonth < 10 ? shiftedMonth + 3 : shiftedMonth - 9
        return (yearOfEra + era * 400 + (month <= 2 ? 1 : 0), month, day)
    }

    private static func floorDivision(_ value: Int64, _ divisor: Int64) -> (Int64, Int64) {
        let quotient = value / divisor
        let remainder = value % divisor
        return remainder < 0 ? (quotient - 1, remainder + divisor) : (quotient, remainder)
    }

    private static func twoDigits(_ value: Int64) -> String { value < 10 ? "0\(value)" : "\(value)" }
}
