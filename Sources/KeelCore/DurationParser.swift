import Foundation

/// Parses durations as people and Restate's clients write them: ISO-8601 (`PT1M30S`, `P1DT2H`, `PT0.5S`) as
/// Java clients send a delay, and friendly forms (`60s`, `60 sec`, `1500ms`, `1h 30m`, `2days`).
public enum DurationParser {
    /// The accepted formats, for error messages.
    public static let formats =
        "ISO-8601 (PT1M30S, P1DT2H, PT0.5S) or friendly (500ms, 60s, 60 sec, 5min, 1h 30m, 2days)"

    /// The duration `text` describes (millisecond precision), or nil when it is none of the formats.
    public static func parse(_ text: String) -> Duration? {
        let trimmed = text.trimmingCharacters(in: .whitespaces)
        let parsed =
            trimmed.uppercased().hasPrefix("P") ? iso8601(trimmed.uppercased()) : friendly(trimmed.lowercased())
        guard let milliseconds = parsed, milliseconds.isFinite, milliseconds >= 0, milliseconds < 1e15 else {
            return nil
        }
        return .milliseconds(Int64(milliseconds.rounded()))
    }

    /// `PnW`, or `PnYnMnDTnHnMnS` with an optional fraction on the last number (years and months as 365 and
    /// 30 days, as Restate does).
    private static func iso8601(_ text: String) -> Double? {
        var total = 0.0
        var number = ""
        var inTime = false
        var sawUnit = false
        for character in text.dropFirst() {
            if character.isNumber || character == "." || character == "," {
                number.append(character == "," ? "." : character)
                continue
            }
            if character == "T" {
                guard number.isEmpty, !inTime else { return nil }
                inTime = true
                continue
            }
            guard let value = Double(number) else { return nil }
            number = ""
            let unit: Double
            switch (character, inTime) {
            case ("Y", false): unit = 365 * 86_400_000
            case ("M", false): unit = 30 * 86_400_000
            case ("W", false): unit = 7 * 86_400_000
            case ("D", false): unit = 86_400_000
            case ("H", true): unit = 3_600_000
            case ("M", true): unit = 60_000
            case ("S", true): unit = 1_000
            default: return nil
            }
            total += value * unit
            sawUnit = true
        }
        return number.isEmpty && sawUnit ? total : nil
    }

    /// A sequence of `<number><unit>` parts, spaces allowed between and inside them.
    private static func friendly(_ text: String) -> Double? {
        var total = 0.0
        var index = text.startIndex
        var parts = 0
        func skipSpaces() {
            while index < text.endIndex, text[index] == " " { index = text.index(after: index) }
        }
        skipSpaces()
        while index < text.endIndex {
            let numberStart = index
            while index < text.endIndex, text[index].isNumber || text[index] == "." { index = text.index(after: index) }
            guard let value = Double(text[numberStart..<index]) else { return nil }
            skipSpaces()
            let unitStart = index
            while index < text.endIndex, text[index].isLetter { index = text.index(after: index) }
            guard let unit = unit(String(text[unitStart..<index])) else { return nil }
            total += value * unit
            parts += 1
            skipSpaces()
        }
        return parts > 0 ? total : nil
    }

    /// Milliseconds per unit name.
    private static func unit(_ name: String) -> Double? {
        switch name {
        case "ms", "msec", "msecs", "millis", "millisecond", "milliseconds": 1
        case "s", "sec", "secs", "second", "seconds": 1_000
        case "m", "min", "mins", "minute", "minutes": 60_000
        case "h", "hr", "hrs", "hour", "hours": 3_600_000
        case "d", "day", "days": 86_400_000
        case "w", "week", "weeks": 7 * 86_400_000
        default: nil
        }
    }
}
