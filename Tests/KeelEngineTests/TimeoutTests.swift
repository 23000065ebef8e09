import Foundation
import Keel
import KeelCore
import KeelProtocol
import KeelStore
import Testing

@testable import KeelEngine

@Suite("Per-handler timeouts on the manual clock")
struct TimeoutTests {

    @Test("executionTimeout aborts an attempt that runs too long; the retry runs and completes")
    func executionTimeout() async throws {
        let probe = Probe()
        // The first attempt hangs (real time); the abort cancels its task, as Swift handlers expect.
        let slow = Service("Slow").handler("run") { (_: Context, _: NoInput) -> String in
            if probe.hit("attempt") == 1 { try await Task.sleep(for: .seconds(3_600)) }
            return "done"
        }
        .options(DurabilityOptions(executionTimeout: .seconds(30)), forHandler: "run")
        #expect(
            Endpoint([slow]).manifest.services.first?.handlers.first?.metadata?["keel.executionTimeout"] == "30000ms"
        )
        let clock = ManualClock()
        try await withStoreAndEngine([Endpoint([slow])], clock: clock) { engine, _ in
            let id = try await engine.send("Slow/run")
            #expect(try await eventually { probe.count("attempt") == 1 })
            let due = clock.now() + 30_000
            #expect(await engine.deadline(of: id) { $0 == due } != nil)
            await clock.advance(to: due - 1)
            #expect(try await engine.output(id) == nil)
            await clock.advance(to: due)
            // The retry is armed at the policy's backoff (5 ms in these tests): move past it.
            #expect(await engine.deadline(of: id) { $0 > due && $0 <= due + 1_000 } != nil)
            await clock.advance(by: .seconds(1))
            #expect(try await engine.attachWithinAMinute(id) == json("\"done\""))
            #expect(probe.count("attempt") == 2)
        }
    }

    @Test("totalTimeout cancels an invocation that sleeps past it (its handler sees the cancellation)")
    func totalTimeout() async throws {
        let probe = Probe()
        let sleeper = Service("Sleeper").handler("nap") { (ctx: Context, _: NoInput) -> String in
            do {
                try await ctx.sleep(for: .seconds(3_600))
                return "rested"
            } catch let error as TerminalError {
                probe.log("cancelled \(error.code)")
                throw error
            }
        }
        .options(DurabilityOptions(totalTimeout: .seconds(600)))
        let clock = ManualClock(now: SystemClock().now())
        try await withStoreAndEngine([Endpoint([sleeper])], clock: clock) { engine, _ in
            let start = clock.now()
            let id = try await engine.send("Sleeper/nap")
            let due = start + 600_000
            #expect(await engine.deadline(of: id) { $0 == due } != nil)
            await clock.advance(to: due + 5_000)
            let result = try await engine.attachWithinAMinute(id)
            guard case .failure(let failure) = result else {
                Issue.record("completed: \(result)")
                return
            }
            #expect(failure.code == 409, "\(failure)")
            #expect(probe.log == ["cancelled 409"])
        }
    }

    @Test(
        "scheduleTimeout fails an invocation that waited in its object's queue too long; totalTimeout fails one that never started with 408"
    )
    func scheduleTimeout() async throws {
        let gate = Latch()
        let lane = VirtualObject("Lane")
            .handler("hold") { (_: ObjectContext, _: NoInput) -> String in
                await gate.wait()
                return "held"
            }
            .handler("queued") { (_: ObjectContext, _: NoInput) -> String in "ran" }
            .handler("late") { (_: ObjectContext, _: NoInput) -> String in "ran" }
            .options(DurabilityOptions(scheduleTimeout: .seconds(60)), forHandler: "queued")
            .options(DurabilityOptions(totalTimeout: .seconds(120)), forHandler: "late")
        let clock = ManualClock()
        try await withStoreAndEngine([Endpoint([lane])], clock: clock) { engine, _ in
            let start = clock.now()
            let holder = try await engine.send("Lane/hold", key: "k")
            let queued = try await engine.send("Lane/queued", key: "k")
            let late = try await engine.send("Lane/late", key: "k")
            #expect(try await engine.describe(queued)?.status == .inboxed)
            #expect(await engine.deadline(of: queued) { $0 == start + 60_000 } != nil)
            #expect(await engine.deadline(of: late) { $0 == start + 120_000 } != nil)
            await clock.advance(to: start + 60_000)
            guard case .failure(let failure) = try await engine.attachWithinAMinute(queued) else {
                Issue.record("the queued invocation ran")
                return
            }
            #expect(failure.code == 408 && failure.message.contains("scheduleTimeout"), "\(failure)")
            await clock.advance(to: start + 120_000)
            guard case .failure(let lateFailure) = try await engine.attachWithinAMinute(late) else {
                Issue.record("the late invocation ran")
                return
            }
            #expect(lateFailure.code == 408 && lateFailure.message.contains("totalTimeout"), "\(lateFailure)")
            // Idle for two minutes, the holder's attempt may have been aborted by the inactivity and abort
            // timeouts (60 s each by default, counted from the sweeps' instants): released, it completes either
            // at once or on its retry, which needs the clock to move.
            gate.open()
            #expect(
                try await eventually {
                    await clock.advance(by: .seconds(1))
                    return try await engine.output(holder) != nil
                }
            )
            #expect(try await engine.attachWithinAMinute(holder) == json("\"held\""))
        }
        gate.open()
    }

    @Test("a step with a timeout that runs longer fails with StepTimeout and is retried; the next try completes it")
    func stepTimeout() async throws {
        let probe = Probe()
        let service = Service("Steps").handler("run") { (ctx: Context, _: NoInput) -> String in
            try await ctx.run(
                "slow",
                retry: RunRetryPolicy(maxAttempts: 3, initialDelay: .milliseconds(1)),
                timeout: .milliseconds(50)
            ) {
                if probe.hit("try") == 1 { try await Task.sleep(for: .seconds(30)) }
                return "fast enough"
            }
        }
        try await withStoreAndEngine([Endpoint([service])]) { engine, _ in
            let result = try await engine.call("Steps/run")
            #expect(result == json("\"fast enough\""))
        }
        #expect(probe.count("try") == 2)
    }

    @Test("timeouts are pure deadlines: stale attempts, started and finished invocations are not timed out")
    func rules() {
        var state = PartitionState()
        let id = InvocationID(partitionKey: 1, uuid: 7)
        _ = state.admit(id, lockedObject: nil, executeAt: nil, now: 0)
        let generation = state.beginAttempt(id) ?? 0
        _ = state.armAttemptTimeout(id, generation: generation, at: 100)
        _ = state.armTimeouts(id, total: 500, schedule: 50)
        // Started at once: no schedule timeout; the attempt timeout is due at 100.
        #expect(state.due(now: 99).isEmpty)
        #expect(state.due(now: 100) == [.timeOutAttempt(id, generation: generation)])
        let next = state.beginAttempt(id) ?? 0
        _ = state.armAttemptTimeout(id, generation: next, at: 300)
        _ = state.finished(id)
        #expect(state.due(now: 1_000).isEmpty)
        #expect(state.nextDeadline == nil)
    }
}

@Suite("onFailure alerts")
struct FailureAlertTests {
    @Test(
        "the onFailure sink runs once for a terminal failure, a kill, and a pause after the retries, with what happened"
    )
    func alerts() async throws {
        let probe = Probe()
        let ops = Service("Ops").handler("alert") { (ctx: Context, alert: [String: JSONValueForTests]) in
            probe.log("\(alert["status"]?.text ?? "?") \(alert["target"]?.text ?? "?")")
            _ = ctx
        }
        let risky = Service("Risky")
            .handler("fail") { (_: Context, _: NoInput) in throw TerminalError("no", code: 422) }
            .handler("flaky") { (_: Context, _: NoInput) in throw Flaky() }
            .handler("wait") { (ctx: Context, _: NoInput) in try await ctx.sleep(for: .seconds(3_600)) }
            .options(
                DurabilityOptions(
                    retryPolicy: InvocationRetryPolicy(
                        initialInterval: .milliseconds(1),
                        maxAttempts: 2,
                        onMaxAttempts: .pause
                    ),
                    onFailure: "service://Ops/alert"
                )
            )
        #expect(Endpoint([risky]).manifest.services.first?.metadata?["keel.onFailure"] == "service://Ops/alert")
        try await withStoreAndEngine([Endpoint([risky, ops])]) { engine, _ in
            let failed = try await engine.send("Risky/fail")
            let flaky = try await engine.send("Risky/flaky")
            let waiting = try await engine.send("Risky/wait")
            _ = try await engine.attachWithinAMinute(failed)
            #expect(try await eventually { try await engine.describe(flaky)?.status == .paused })
            try await Task.sleep(for: .milliseconds(50))
            try await engine.kill(waiting)
            #expect(try await eventually { probe.log.count == 3 })
            try await Task.sleep(for: .milliseconds(200))
            #expect(probe.log.sorted() == ["failed Risky/fail", "killed Risky/wait", "paused Risky/flaky"])
        }
    }
}

/// A JSON value read loosely, for the alert's body.
enum JSONValueForTests: Decodable, Sendable {
    case text(String)
    case other

    init(from decoder: any Decoder) throws {
        let container = try decoder.singleValueContainer()
        self = (try? container.decode(String.self)).map(JSONValueForTests.text) ?? .other
    }

    var text: String? {
        if case .text(let value) = self { value } else { nil }
    }
}
