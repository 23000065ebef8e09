import ArgumentParser
import Foundation

/// A duration as written on the command line: `10s`, `500ms`, `1.5m`, `250us`; a bare number is seconds.
struct TimeSpan: ExpressibleByArgument, Sendable, Hashable, CustomStringConvertible {
    static let zero = TimeSpan(seconds: 0)

    let duration: Duration
    let description: String

    init(seconds: Int) {
        duration = .seconds(seconds)
        description = "\(seconds)s"
    }

    init?(argument: String) {
        let text = argument.trimmingCharacters(in: .whitespaces).lowercased()
        let units: [(suffix: String, seconds: Double)] = [
            ("ms", 1e-3), ("us", 1e-6), ("µs", 1e-6), ("s", 1), ("m", 60), ("h", 3600),
        ]
        let unit = units.first { text.hasSuffix($0.suffix) && Double(text.dropLast($0.suffix.count)) != nil }
        let number = unit.map { String(text.dropLast($0.suffix.count)) } ?? text
        guard let value = Double(number), value.isFinite, value >= 0 else { return nil }
        let seconds = value * (unit?.seconds ?? 1)
        guard seconds <= 24 * 3600 else { return nil }
        duration = .nanoseconds(Int64((seconds * 1e9).rounded()))
        description = argument
    }

    static var defaultCompletionKind: CompletionKind { .default }

    var seconds: Double { duration.seconds }
}
