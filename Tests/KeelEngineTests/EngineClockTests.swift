import Foundation
import Keel
import KeelCore
import KeelEngine
import KeelProtocol
import KeelStore
import Testing

@Suite("The manual clock")
struct ManualClockTests {
    @Test("loops wake at their deadline's instant, in due order, and the clock waits for each to sleep again")
    func wakesInOrder() async throws {
        let clock = ManualClock(now: 1_000)
        let woke = Probe()
        await withThrowingTaskGroup(of: Void.self) { group in
            for deadline in [1_300, 1_100, 1_200] as [Int64] {
                group.addTask {
                    try await clock.sleepBetweenRounds(until: deadline)
                    woke.log("\(deadline)@\(clock.now())")
                    try await clock.sleepBetweenRounds(until: .max)
                }
            }
            #expect(await clock.waitUntil { $0.count == 3 })
            await clock.advance(to: 1_099)
            #expect(woke.log.isEmpty)
            await clock.advance(to: 1_250)
            #expect(woke.log == ["1100@1100", "1200@1200"])
            await clock.advance(by: .seconds(1))
            #expect(woke.log == ["1100@1100", "1200@1200", "1300@1300"])
            #expect(clock.now() == 2_250)
            group.cancelAll()
        }
        #expect(clock.deadlines.isEmpty)
    }

    @Test("a cancelled sleep throws at once and leaves nothing behind")
    func cancellation() async throws {
        let clock = ManualClock(now: 0)
        let task = Task { try await clock.sleep(until: 10_000) }
        #expect(await clock.waitUntil { $0 == [10_000] })
        task.cancel()
        await #expect(throws: CancellationError.self) { try await task.value }
        #expect(clock.deadlines.isEmpty)
        // A deadline that has passed returns without waiting.
        try await clock.sleep(until: -1)
    }
}

@Suite("The engine on a manual clock: no test waits for real time")
struct EngineClockTests {
    @Test("a one-hour durable sleep completes when the clock reaches its deadline, and not a minute earlier")
    func hourLongSleep() async throws {
        let probe = Probe()
        let sleeper = Service("Sleeper").handler("nap") { (ctx: Context, _: NoInput) -> String in
            probe.hit("attempt")
            try await ctx.sleep(for: .seconds(3_600))
            return "rested"
        }
        // The SDK computes the wake-up time from the system's wall clock, so the manual clock starts there.
        let clock = ManualClock(now: SystemClock().now())
        let start = clock.now()
        let result = try await withStoreAndEngine([Endpoint([sleeper])], clock: clock) { engine, _ in
            let id = try await engine.send("Sleeper/nap")
            // Armed once the handler slept: an hour after the SDK's reading of the wall clock, a little after `start`.
            let deadline = try #require(await engine.deadline(of: id) { $0 >= start + 3_600_000 })
            #expect(deadline < start + 3_660_000)
            await clock.advance(to: deadline - 60_000)
            #expect(try await engine.output(id) == nil)
            await clock.advance(to: deadline)
            return try await engine.attachWithinAMinute(id)
        }
        #expect(result == json("\"rested\""))
        #expect(probe.count("attempt") >= 1)
    }

    @Test("a delayed send starts at its due time on the clock, exactly")
    func delayedSend() async throws {
        let probe = Probe()
        let clock = ManualClock()
        let marker = Service("Marker").handler("mark") { (_: Context, _: NoInput) -> String in
            probe.log("ran at \(clock.now())")
            return "marked"
        }
        let start = clock.now()
        // Purging once a day rather than once a minute: 1,440 store reads fewer on the way.
        let configuration = EngineConfiguration(purgeInterval: .seconds(86_400))
        let result = try await withStoreAndEngine([Endpoint([marker])], configuration: configuration, clock: clock) {
            engine,
            _ in
            let receipt = try await engine.send(
                Engine.Request(
                    target: InvocationTarget(service: "Marker", handler: "mark"),
                    body: Data(),
                    delay: .seconds(86_400)
                )
            )
            #expect(await engine.waitForDeadline(of: receipt.id) { $0 == start + 86_400_000 })
            await clock.advance(by: .milliseconds(86_399_999))
            #expect(probe.log.isEmpty)
            await clock.advance(by: .milliseconds(1))
            return try await engine.attachWithinAMinute(receipt.id)
        }
        #expect(result == json("\"marked\""))
        #expect(probe.log == ["ran at \(start + 86_400_000)"])
    }

    @Test("a failed attempt is retried exactly after its policy's backoff, growing by its factor")
    func retryBackoffIsExact() async throws {
        let probe = Probe()
        let clock = ManualClock()
        let flaky = Service("Flaky").handler("run") { (_: Context, _: NoInput) -> String in
            let attempt = probe.hit("attempt")
            probe.log("attempt \(attempt) at \(clock.now())")
            if attempt < 3 { throw Flaky() }
            return "done"
        }
        let policy = RetryPolicy(initialInterval: .seconds(2), factor: 3, maxInterval: .seconds(60), maxAttempts: 10)
        let start = clock.now()
        let result = try await withStoreAndEngine(
            [Endpoint([flaky])],
            configuration: EngineConfiguration(retryPolicy: policy),
            clock: clock
        ) { engine, _ in
            let id = try await engine.send("Flaky/run")
            #expect(await engine.waitForDeadline(of: id) { $0 == start + 2_000 })
            await clock.advance(by: .milliseconds(1_999))
            #expect(probe.count("attempt") == 1)
            await clock.advance(by: .milliseconds(1))
            #expect(await engine.waitForDeadline(of: id) { $0 == start + 2_000 + 6_000 })
            await clock.advance(by: .milliseconds(6_000))
            return try await engine.attachWithinAMinute(id)
        }
        #expect(result == json("\"done\""))
        #expect(
            probe.log == ["attempt 1 at \(start)", "attempt 2 at \(start + 2_000)", "attempt 3 at \(start + 8_000)"]
        )
    }

    @Test("an endpoint that asks to be retried at once (next_retry_delay 0) is retried no sooner than the floor")
    func retryFloor() async throws {
        let attempts = Probe()
        let clock = ManualClock()
        let endpoint = ScriptedEndpoint { _, _, _, output in
            attempts.log("\(clock.now())")
            output.yield(.error(code: 500, message: "boom", nextRetryDelay: 0))
        }
        let start = clock.now()
        try await withStoreAndEngine([endpoint], configuration: HostileInputTests.patient, clock: clock) { engine, _ in
            let id = try await engine.send("Scripted/go")
            for attempt in 1...3 {
                let due = start + Int64(attempt) * 100
                #expect(await engine.waitForDeadline(of: id) { $0 == due })
                await clock.advance(to: due)
            }
            #expect(await engine.waitForDeadline(of: id) { $0 == start + 400 })
        }
        #expect(attempts.log == (0...3).map { "\(start + Int64($0) * 100)" })
    }
}

extension Engine {
    /// Waits (up to 10 s of real time) until the engine holds a deadline for `id` that satisfies `condition`.
    func waitForDeadline(of id: InvocationID, _ condition: @Sendable (Int64) -> Bool) async -> Bool {
        await deadline(of: id, condition) != nil
    }

    /// The first deadline for `id` that satisfies `condition`, once the engine holds one (nil after 10 s).
    func deadline(of id: InvocationID, _ condition: @Sendable (Int64) -> Bool) async -> Int64? {
        let start = ContinuousClock.now
        while ContinuousClock.now - start < .seconds(10) {
            if let found = await deadlines(of: id).first(where: condition) { return found }
            try? await Task.sleep(for: .milliseconds(1))
        }
        return nil
    }

    /// `attach`, failing the test instead of hanging it when the result does not come within a minute.
    func attachWithinAMinute(_ id: InvocationID) async throws -> InvocationResult {
        let result = Box<InvocationResult>()
        try await withinAMinute { result.value = try await self.attach(id) }
        return try #require(result.value)
    }
}
