import Foundation
import Keel
import KeelCore
import KeelProtocol
import KeelSQLite
import KeelStore
import Testing

@testable import KeelEngine

@Suite("Schedules on the manual clock, on a real store")
struct ScheduleTests {
    static let hour: Int64 = 3_600_000

    /// `Ticker/tick` logs the tick's schedule time; `Slow/run` logs it too, then waits on an awakeable (logged
    /// as `await {time} {awakeable}`), so the test decides when a run ends.
    static func services(_ probe: Probe) -> [any ServiceDefinitionConvertible] {
        let ticker = Service("Ticker").handler("tick") { (ctx: Context, _: NoInput) in
            probe.log(ctx.request.headers["x-keel-schedule-time"] ?? "-")
        }
        let slow = Service("Slow").handler("run") { (ctx: Context, _: NoInput) -> String in
            let time = ctx.request.headers["x-keel-schedule-time"] ?? "-"
            let (id, answer) = try ctx.awakeable(of: String.self)
            probe.log("await \(time) \(id)")
            return try await answer.value
        }
        return [ticker, slow]
    }

    static func time(_ instant: Int64) -> String {
        Engine.rfc3339(instant)
    }

    @Test(
        "a daily 02:30 in Europe/Berlin over the week of the spring change: seven runs, the one on the day of the change at the jump"
    )
    func weekOverTheSpringChange() async throws {
        let probe = Probe()
        // 2026-03-25T00:00:00Z; the clocks go from 02:00 to 03:00 in Berlin on Sunday 2026-03-29.
        let clock = ManualClock(now: 1_774_396_800_000)
        // The purge loop wakes once a day instead of each minute: a week is 7 rounds, not 10,080.
        let configuration = EngineConfiguration(purgeInterval: .seconds(86_400))
        try await withStoreAndEngine([Endpoint(Self.services(probe))], configuration: configuration, clock: clock) {
            engine,
            _ in
            let created = try await engine.createSchedule(
                id: "nightly",
                definition: ScheduleDefinition(
                    cron: ["30 2 * * *"],
                    timeZone: "Europe/Berlin",
                    sink: "service://Ticker/tick"
                )
            )
            #expect(created.progress.lastNominal == clock.now())
            let expected = [
                "2026-03-25T01:30:00Z", "2026-03-26T01:30:00Z", "2026-03-27T01:30:00Z", "2026-03-28T01:30:00Z",
                "2026-03-29T01:00:00Z", "2026-03-30T00:30:00Z", "2026-03-31T00:30:00Z",
            ]
            let described = try engine.describeSchedule("nightly", count: 7)
            #expect(described.nextTimes.map(Self.time) == expected)
            for (day, time) in expected.enumerated() {
                let instant = try #require(described.nextTimes[day] as Int64?)
                #expect(await clock.waitUntil { $0.contains(instant) }, "the loop sleeps until \(time)")
                await clock.advance(to: instant - 1)
                #expect(probe.log.count == day)
                await clock.advance(to: instant)
                #expect(try await eventually { probe.log.count == day + 1 }, "\(time) ran")
                #expect(probe.log.last == time)
                // The schedule sees the run end before the next tick (else `skip` would drop that tick).
                #expect(
                    try await eventually { try engine.describeSchedule("nightly").record.progress.running.isEmpty }
                )
            }
            let info = try engine.describeSchedule("nightly").record.progress
            #expect(info.actionCount == 7)
            #expect(info.recent.map { Self.time($0.tick.nominal) } == expected)
        }
        #expect(probe.log.count == 7)
    }

    struct Overlap: Sendable, CustomTestStringConvertible {
        var policy: OverlapPolicy
        /// The hours (1 to 3) whose runs started before any was released, and in all, in order.
        var beforeRelease: [Int]
        var started: [Int]
        /// How each run ended, by hour.
        var outcomes: [Int: String]
        var skipped: Int64
        var testDescription: String { policy.rawValue }
    }

    @Test(
        "each overlap policy against a handler slower than the period (hourly ticks, runs that wait to be released)",
        arguments: [
            Overlap(policy: .skip, beforeRelease: [1], started: [1], outcomes: [1: "done"], skipped: 2),
            Overlap(
                policy: .bufferOne,
                beforeRelease: [1],
                started: [1, 2],
                outcomes: [1: "done", 2: "done"],
                skipped: 1
            ),
            Overlap(
                policy: .bufferAll,
                beforeRelease: [1],
                started: [1, 2, 3],
                outcomes: [1: "done", 2: "done", 3: "done"],
                skipped: 0
            ),
            Overlap(
                policy: .cancelOther,
                beforeRelease: [1, 2, 3],
                started: [1, 2, 3],
                outcomes: [1: "cancelled", 2: "cancelled", 3: "done"],
                skipped: 0
            ),
            Overlap(
                policy: .terminateOther,
                beforeRelease: [1, 2, 3],
                started: [1, 2, 3],
                outcomes: [1: "killed", 2: "killed", 3: "done"],
                skipped: 0
            ),
            Overlap(
                policy: .allowAll,
                beforeRelease: [1, 2, 3],
                started: [1, 2, 3],
                outcomes: [1: "done", 2: "done", 3: "done"],
                skipped: 0
            ),
        ]
    )
    func overlapPolicies(_ row: Overlap) async throws {
        let probe = Probe()
        let clock = ManualClock()
        let start = clock.now()
        try await withStoreAndEngine([Endpoint(Self.services(probe))], clock: clock) { engine, _ in
            _ = try await engine.createSchedule(
                id: "slow",
                definition: ScheduleDefinition(cron: ["0 * * * *"], sink: "service://Slow/run", overlap: row.policy)
            )
            /// The runs that wait, once each (a run that is replayed logs again).
            @Sendable func awaiting() -> [(hour: Int, awakeable: String)] {
                var seen: Set<Int> = []
                return probe.log.compactMap { line in
                    let parts = line.split(separator: " ").map(String.init)
                    guard parts.count == 3,
                        let hour = (1...3).first(where: { Self.time(start + Int64($0) * Self.hour) == parts[1] })
                    else { return nil }
                    return seen.insert(hour).inserted ? (hour, parts[2]) : nil
                }
            }
            // Hours 1 to 3; nothing is released before the third tick.
            for hour in 1...3 {
                let instant = start + Int64(hour) * Self.hour
                #expect(await clock.waitUntil { $0.contains(instant) })
                await clock.advance(to: instant)
                let expected = row.beforeRelease.prefix { $0 <= hour }
                #expect(
                    try await eventually { awaiting().map(\.hour) == Array(expected) },
                    "after hour \(hour): \(awaiting().map(\.hour))"
                )
            }
            // Release the runs that are to end by themselves, one at a time, as they start.
            let toRelease = Set(row.outcomes.filter { $0.value == "done" }.keys)
            var released: Set<Int> = []
            while released != toRelease {
                let done = released
                let waiting = { @Sendable in awaiting().first { toRelease.contains($0.hour) && !done.contains($0.hour) }
                }
                guard try await eventually({ waiting() != nil }), let next = waiting() else { break }
                released.insert(next.hour)
                try await engine.completeAwakeable(next.awakeable, with: json("\"done\""))
            }
            #expect(awaiting().map(\.hour) == row.started)
            let progress = try engine.describeSchedule("slow").record.progress
            for run in progress.recent {
                let hour = Int((run.tick.nominal - start) / Self.hour)
                let id = try #require(InvocationID(run.invocationID))
                let outcome: String
                switch try await engine.attachWithinAMinute(id) {
                case .success: outcome = "done"
                case .failure(let failure): outcome = failure.message.contains("kill") ? "killed" : "cancelled"
                }
                #expect(outcome == row.outcomes[hour], "hour \(hour)")
            }
            #expect(progress.recent.count == row.started.count)
            #expect(progress.overlapSkipped == row.skipped)
            #expect(try await eventually { (try engine.describeSchedule("slow").record.progress.running.isEmpty) })
        }
    }

    @Test("after downtime, missed ticks inside the catch-up window go through the policy, older ones count as missed")
    func catchUpAfterDowntime() async throws {
        let probe = Probe()
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent(
            "keel-schedule-\(UUID().uuidString)"
        )
        defer { try? FileManager.default.removeItem(at: directory) }
        let clock = ManualClock()
        let start = clock.now()
        try await withEngine(at: directory, [Endpoint(Self.services(probe))], clock: clock) { engine in
            _ = try await engine.createSchedule(
                id: "hourly",
                definition: ScheduleDefinition(
                    cron: ["0 * * * *"],
                    sink: "service://Ticker/tick",
                    overlap: .allowAll,
                    catchupWindow: "3h"
                )
            )
        }
        // Down for ten hours.
        await clock.advance(to: start + 10 * Self.hour + 60_000)
        try await withEngine(at: directory, [Endpoint(Self.services(probe))], clock: clock) { engine in
            #expect(try await eventually { probe.log.count == 3 })
            let progress = try engine.describeSchedule("hourly").record.progress
            #expect(progress.missedCatchupWindow == 7)
            #expect(progress.actionCount == 3)
        }
        #expect(probe.log == (8...10).map { Self.time(start + Int64($0) * Self.hour) })
    }

    @Test(
        "pause stops the ticks and resume does not catch them up; trigger runs at once; the progress survives a restart"
    )
    func pauseResumeTrigger() async throws {
        let probe = Probe()
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent(
            "keel-schedule-\(UUID().uuidString)"
        )
        defer { try? FileManager.default.removeItem(at: directory) }
        let clock = ManualClock()
        let start = clock.now()
        try await withEngine(at: directory, [Endpoint(Self.services(probe))], clock: clock) { engine in
            _ = try await engine.createSchedule(
                id: "p",
                definition: ScheduleDefinition(cron: ["0 * * * *"], sink: "service://Ticker/tick")
            )
            let paused = try await engine.pauseSchedule("p")
            #expect(paused.progress.paused)
            #expect(try engine.describeSchedule("p").nextTimes.isEmpty)
            await clock.advance(to: start + 3 * Self.hour)
            _ = try await engine.triggerSchedule("p")
            #expect(try await eventually { probe.log == [Self.time(start + 3 * Self.hour)] })
            #expect(try await eventually { try engine.describeSchedule("p").record.progress.running.isEmpty })
            let resumed = try await engine.resumeSchedule("p")
            #expect(!resumed.progress.paused)
            #expect(try engine.describeSchedule("p").nextTimes.first == start + 4 * Self.hour)
            #expect(await clock.waitUntil { $0.contains(start + 4 * Self.hour) })
            await clock.advance(to: start + 4 * Self.hour)
            #expect(try await eventually { probe.log.count == 2 })
        }
        try await withEngine(at: directory, [Endpoint(Self.services(probe))], clock: clock) { engine in
            let progress = try engine.describeSchedule("p").record.progress
            #expect(progress.actionCount == 2)
            #expect(progress.recent.map(\.tick.manual) == [true, false])
            #expect(progress.lastNominal == start + 4 * Self.hour)
            #expect(progress.missedCatchupWindow == 0)
            try await engine.deleteSchedule("p")
            await #expect(throws: EngineError.self) { try await engine.deleteSchedule("p") }
        }
        #expect(probe.log.count == 2)
    }

    @Test("a cron trigger declared with a handler becomes a schedule at start, fires, and is reconciled idempotently")
    func declaredCron() async throws {
        let probe = Probe()
        let ticker = Service("Ticker").handler("tick") { (ctx: Context, _: NoInput) in
            probe.log(ctx.request.headers["x-keel-schedule-id"] ?? "-")
        }
        .trigger(.cron("0 * * * *", overlap: .bufferOne, catchupWindow: .seconds(600)), forHandler: "tick")
        let metadata = Endpoint([ticker]).manifest.services.first?.handlers.first?.metadata?["keel.triggers"]
        #expect(metadata == #"[{"catchupWindow":"600s","cron":"0 * * * *","overlap":"bufferOne"}]"#)
        let clock = ManualClock()
        try await withStoreAndEngine([Endpoint([ticker])], clock: clock) { engine, _ in
            let declared = try engine.schedules()
            #expect(declared.count == 1)
            let schedule = try #require(declared.first)
            #expect(schedule.declared && schedule.id.hasPrefix(Engine.declaredSchedulePrefix))
            #expect(schedule.definition.overlap == .bufferOne && schedule.definition.catchupWindow == "600s")
            try await engine.reconcileDeclaredTriggers()
            #expect(try engine.schedules() == declared)
            let next = clock.now() + Self.hour
            #expect(await clock.waitUntil { $0.contains(next) })
            await clock.advance(to: next)
            #expect(try await eventually { probe.log == [schedule.id] })
            await #expect(throws: EngineError.self) {
                try await engine.createSchedule(
                    id: Engine.declaredSchedulePrefix + "mine",
                    definition: ScheduleDefinition(cron: ["@daily"], sink: "service://Ticker/tick")
                )
            }
        }
    }

    @Test("bad definitions are refused with the field named; unknown sinks with 404; a taken id with 409")
    func refusals() async throws {
        try await withStoreAndEngine([Endpoint(Self.services(Probe()))]) { engine, _ in
            let cases: [(ScheduleDefinition, String?, EngineError.Code, String)] = [
                (.init(cron: ["61 * * * *"], sink: "service://Ticker/tick"), nil, .badRequest, "spec.cron[0]"),
                (
                    .init(cron: ["@daily"], timeZone: "Nowhere/City", sink: "service://Ticker/tick"), nil, .badRequest,
                    "spec.timeZone"
                ),
                (.init(cron: ["@daily"], sink: "service://Nope/tick"), nil, .notFound, "action.sink"),
                (.init(cron: ["@daily"], sink: "service://Ticker/nope"), nil, .notFound, "action.sink"),
                (.init(cron: ["@daily"], sink: "service://Ticker/tick", key: "k"), nil, .badRequest, "action.key"),
                (.init(cron: ["@daily"], sink: "service://Ticker/tick"), "bad id!", .badRequest, "id"),
            ]
            for (definition, id, code, field) in cases {
                do {
                    _ = try await engine.createSchedule(id: id, definition: definition)
                    Issue.record("\(field) accepted")
                } catch let error as EngineError {
                    #expect(error.code == code, "\(error)")
                    #expect(error.message.hasPrefix(field), "\(error)")
                }
            }
            let good = ScheduleDefinition(cron: ["@daily"], sink: "service://Ticker/tick")
            _ = try await engine.createSchedule(id: "taken", definition: good)
            await #expect(throws: EngineError(.conflict, "schedule 'taken' exists already")) {
                try await engine.createSchedule(id: "taken", definition: good)
            }
        }
    }
}

/// Runs an engine on the store in `directory` until `body` returns, then stops it (a restart keeps the store).
func withEngine(
    at directory: URL,
    _ endpoints: [any EmbeddedEndpoint],
    clock: any EngineClock,
    _ body: @escaping @Sendable (Engine) async throws -> Void
) async throws {
    let store = try SQLiteStore(directory: directory)
    let engine = Engine(store: store, endpoints: endpoints, clock: clock)
    try await engine.recover()
    try await withThrowingTaskGroup(of: Bool.self) { group in
        group.addTask {
            try await engine.run()
            return false
        }
        group.addTask {
            try await body(engine)
            return true
        }
        while let finished = try await group.next() {
            if finished { break }
        }
        group.cancelAll()
    }
    await store.close()
}
