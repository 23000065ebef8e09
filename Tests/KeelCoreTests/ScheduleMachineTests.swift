import Foundation
import KeelCore
import Testing

@Suite("Schedule rules: specs, catch-up and overlap policies, as pure code")
struct ScheduleMachineTests {
    static let hour: Int64 = 3_600_000
    /// 2026-01-01T00:00:00Z.
    static let start: Int64 = 1_767_225_600_000

    static func hourly(
        _ overlap: OverlapPolicy,
        window: String? = nil,
        lastNominal: Int64 = start
    ) throws -> ScheduleMachine {
        try ScheduleDefinition(cron: ["0 * * * *"], sink: "service://S/h", overlap: overlap, catchupWindow: window)
            .machine(progress: ScheduleProgress(lastNominal: lastNominal))
    }

    static func name(_ tick: ScheduleTick) -> String {
        "inv-\((tick.nominal - start) / hour)\(tick.manual ? "m" : "")"
    }

    /// What one call gave, in short: `start 1`, `cancel inv-1`, `kill inv-1`.
    static func summary(_ actions: [ScheduleMachine.Action]) -> [String] {
        actions.map { action in
            switch action {
            case .start(let run): "start \(run.invocationID)"
            case .cancel(let id): "cancel \(id)"
            case .kill(let id): "kill \(id)"
            }
        }
    }

    struct CatchUp: Sendable, CustomTestStringConvertible {
        var overlap: OverlapPolicy
        var actions: [String]
        var buffered: Int
        var skipped: Int64
        /// What happens when the first run ends.
        var afterEnd: [String]
        var testDescription: String { overlap.rawValue }
    }

    @Test(
        "after 10 missed hourly ticks, each overlap policy gives Temporal's catch-up",
        arguments: [
            CatchUp(overlap: .skip, actions: ["start inv-1"], buffered: 0, skipped: 9, afterEnd: []),
            CatchUp(overlap: .bufferOne, actions: ["start inv-1"], buffered: 1, skipped: 8, afterEnd: ["start inv-2"]),
            CatchUp(overlap: .bufferAll, actions: ["start inv-1"], buffered: 9, skipped: 0, afterEnd: ["start inv-2"]),
            CatchUp(
                overlap: .cancelOther,
                actions: ["start inv-1", "cancel inv-1"],
                buffered: 1,
                skipped: 8,
                afterEnd: ["start inv-10"]
            ),
            CatchUp(
                overlap: .terminateOther,
                actions: ["start inv-1", "kill inv-1"],
                buffered: 1,
                skipped: 8,
                afterEnd: ["start inv-10"]
            ),
            CatchUp(
                overlap: .allowAll,
                actions: (1...10).map { "start inv-\($0)" },
                buffered: 0,
                skipped: 0,
                afterEnd: []
            ),
        ]
    )
    func catchUp(_ row: CatchUp) throws {
        var machine = try Self.hourly(row.overlap)
        let now = Self.start + 10 * Self.hour + 5 * 60_000
        let actions = machine.tick(now: now, invocationID: Self.name)
        #expect(Self.summary(actions) == row.actions)
        #expect(machine.progress.buffered.count == row.buffered)
        #expect(machine.progress.overlapSkipped == row.skipped)
        #expect(machine.progress.missedCatchupWindow == 0)
        #expect(machine.progress.lastNominal == Self.start + 10 * Self.hour)
        #expect(machine.nextTick == Self.start + 11 * Self.hour)
        #expect(Self.summary(machine.ended("inv-1", now: now, invocationID: Self.name)) == row.afterEnd)
    }

    @Test("ticks older than the catch-up window are counted as missed; the ones inside it go through the policy")
    func catchUpWindow() throws {
        var machine = try Self.hourly(.allowAll, window: "3h")
        let actions = machine.tick(now: Self.start + 10 * Self.hour, invocationID: Self.name)
        #expect(Self.summary(actions) == ["start inv-7", "start inv-8", "start inv-9", "start inv-10"])
        #expect(machine.progress.missedCatchupWindow == 6)
        #expect(machine.progress.actionCount == 4)
    }

    @Test("bufferAll starts the buffered ticks one after another, in order, as each run ends")
    func bufferAllDrains() throws {
        var machine = try Self.hourly(.bufferAll)
        _ = machine.tick(now: Self.start + 3 * Self.hour, invocationID: Self.name)
        var order: [String] = ["inv-1"]
        while let running = machine.progress.running.first {
            order += Self.summary(machine.ended(running.invocationID, now: Self.start, invocationID: Self.name))
                .map { String($0.dropFirst("start ".count)) }
        }
        #expect(order == ["inv-1", "inv-2", "inv-3"])
        #expect(machine.progress.buffered.isEmpty)
    }

    @Test("a tick with nothing running starts at once under every policy", arguments: OverlapPolicy.allCases)
    func nothingRunning(_ overlap: OverlapPolicy) throws {
        var machine = try Self.hourly(overlap)
        #expect(Self.summary(machine.tick(now: Self.start + Self.hour, invocationID: Self.name)) == ["start inv-1"])
        #expect(Self.summary(machine.ended("inv-1", now: 0, invocationID: Self.name)).isEmpty)
        #expect(Self.summary(machine.tick(now: Self.start + 2 * Self.hour, invocationID: Self.name)) == ["start inv-2"])
        // Nothing is due before the next tick.
        #expect(machine.tick(now: Self.start + 3 * Self.hour - 1, invocationID: Self.name).isEmpty)
    }

    @Test("ticks that fall while paused are not caught up; a manual trigger runs while paused")
    func pauseAndResume() throws {
        var machine = try Self.hourly(.allowAll)
        machine.pause()
        #expect(machine.nextTick == nil)
        #expect(machine.tick(now: Self.start + 5 * Self.hour, invocationID: Self.name).isEmpty)
        let manual = machine.trigger(now: Self.start + 5 * Self.hour, invocationID: Self.name)
        #expect(Self.summary(manual) == ["start inv-5m"])
        machine.resume(now: Self.start + 5 * Self.hour + 1)
        #expect(machine.nextTick == Self.start + 6 * Self.hour)
        #expect(Self.summary(machine.tick(now: Self.start + 6 * Self.hour, invocationID: Self.name)) == ["start inv-6"])
        #expect(machine.progress.missedCatchupWindow == 0)
    }

    @Test("a run that could not start is not counted as running")
    func notStarted() throws {
        var machine = try Self.hourly(.skip)
        _ = machine.tick(now: Self.start + Self.hour, invocationID: Self.name)
        machine.notStarted("inv-1")
        #expect(machine.progress.running.isEmpty)
        #expect(machine.progress.actionCount == 0)
        #expect(Self.summary(machine.tick(now: Self.start + 2 * Self.hour, invocationID: Self.name)) == ["start inv-2"])
    }

    @Test("a schedule down for years goes through at most maxTicksPerCall ticks per call, and catches up over calls")
    func boundedWork() throws {
        var machine = try ScheduleDefinition(cron: ["* * * * * *"], sink: "service://S/h", catchupWindow: "10s")
            .machine(progress: ScheduleProgress(lastNominal: Self.start))
        let now = Self.start + 30_000_000
        var calls = 0
        var starts = 0
        while machine.nextTick.map({ $0 <= now }) == true {
            starts += machine.tick(now: now, invocationID: { "t\($0.nominal)" }).count
            calls += 1
        }
        #expect(calls == 3)
        #expect(starts == 1)
        #expect(machine.progress.missedCatchupWindow == 30_000 - 11)
        #expect(machine.progress.overlapSkipped == 10)
    }

    @Test("cron and intervals fire at the union of their instants, an instant both give once")
    func specUnion() throws {
        let spec = try ScheduleSpec(
            cron: ["0 * * * *"],
            intervals: [(every: "20m", offset: "5m")],
            timeZone: nil
        )
        let minutes = spec.next(6, after: Self.start).map { ($0 - Self.start) / 60_000 }
        #expect(minutes == [5, 25, 45, 60, 65, 85])
        let same = try ScheduleSpec(cron: ["0 * * * *"], intervals: [(every: "1h", offset: nil)], timeZone: "UTC")
        #expect(same.next(2, after: Self.start).map { ($0 - Self.start) / Self.hour } == [1, 2])
    }

    struct Refusal: Sendable, CustomTestStringConvertible {
        var definition: ScheduleDefinition
        var field: String
        var testDescription: String { field }
    }

    @Test(
        "a definition that does not read is refused, naming the field",
        arguments: [
            Refusal(definition: .init(cron: [], sink: "service://S/h"), field: "spec:"),
            Refusal(definition: .init(cron: ["0 2 * *"], sink: "service://S/h"), field: "spec.cron[0]:"),
            Refusal(
                definition: .init(cron: ["0 2 * * *"], timeZone: "Mars/Olympus", sink: "service://S/h"),
                field: "spec.timeZone:"
            ),
            Refusal(
                definition: .init(cron: [], intervals: [.init(every: "0s")], sink: "service://S/h"),
                field: "spec.interval[0].every:"
            ),
            Refusal(
                definition: .init(cron: [], intervals: [.init(every: "1m", offset: "2m")], sink: "service://S/h"),
                field: "spec.interval[0].offset:"
            ),
            Refusal(
                definition: .init(cron: ["@daily"], sink: "service://S/h", catchupWindow: "1s"),
                field: "policies.catchupWindow:"
            ),
            Refusal(definition: .init(cron: ["@daily"], sink: "http://S/h"), field: "action.sink:"),
        ]
    )
    func refusals(_ row: Refusal) {
        do {
            _ = try row.definition.machine(progress: ScheduleProgress(lastNominal: 0))
            _ = try row.definition.target()
            Issue.record("accepted")
        } catch {
            #expect(error.message.hasPrefix(row.field), "\(error.message)")
        }
    }
}
