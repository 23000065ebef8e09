import Foundation

/// A schedule as its owner defines it (the admin API's body, or a `cron` entry of `keel.triggers`): when it
/// fires, what it starts, and its policies. Stored as JSON; its progress is stored beside it.
public struct ScheduleDefinition: Codable, Hashable, Sendable {
    public struct Interval: Codable, Hashable, Sendable {
        public var every: String
        public var offset: String?

        public init(every: String, offset: String? = nil) {
            self.every = every
            self.offset = offset
        }
    }

    public var cron: [String]
    public var intervals: [Interval]
    public var timeZone: String?
    /// `service://{service}/{handler}`.
    public var sink: String
    /// The key of an object or workflow sink.
    public var key: String?
    /// The handler's input (JSON); none when nil.
    public var input: Data?
    public var overlap: OverlapPolicy
    /// A duration (`"1h"`); Temporal's default of a year when nil.
    public var catchupWindow: String?
    public var note: String?

    /// Temporal's default catch-up window: a year.
    public static let defaultCatchupWindow: Int64 = 365 * 86_400_000

    public init(
        cron: [String],
        intervals: [Interval] = [],
        timeZone: String? = nil,
        sink: String,
        key: String? = nil,
        input: Data? = nil,
        overlap: OverlapPolicy = .skip,
        catchupWindow: String? = nil,
        note: String? = nil
    ) {
        self.cron = cron
        self.intervals = intervals
        self.timeZone = timeZone
        self.sink = sink
        self.key = key
        self.input = input
        self.overlap = overlap
        self.catchupWindow = catchupWindow
        self.note = note
    }

    /// When it fires; errors name the field.
    public func spec() throws(ScheduleRuleError) -> ScheduleSpec {
        try ScheduleSpec(cron: cron, intervals: intervals.map { ($0.every, $0.offset) }, timeZone: timeZone)
    }

    /// The catch-up window in milliseconds; errors name the field.
    public func catchupWindowMilliseconds() throws(ScheduleRuleError) -> Int64 {
        guard let text = catchupWindow else { return Self.defaultCatchupWindow }
        guard let window = DurationParser.parse(text)?.saturatingMilliseconds,
            window >= ScheduleMachine.minimumCatchupWindow
        else {
            throw ScheduleRuleError(
                "policies.catchupWindow: '\(text)' is not a duration of at least 10s (\(DurationParser.formats))"
            )
        }
        return window
    }

    /// The sink's service and handler; errors name the field.
    public func target() throws(ScheduleRuleError) -> (service: String, handler: String) {
        do {
            return try EventRules.target(ofSink: sink)
        } catch {
            throw ScheduleRuleError("action.sink: \(error.message)")
        }
    }

    /// The rules with `progress`, once the definition reads.
    public func machine(progress: ScheduleProgress) throws(ScheduleRuleError) -> ScheduleMachine {
        ScheduleMachine(
            spec: try spec(),
            overlap: overlap,
            catchupWindow: try catchupWindowMilliseconds(),
            progress: progress
        )
    }
}
