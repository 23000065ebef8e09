import Foundation
import Keel
import KeelCore
import KeelEngine
import KeelProtocol
import Testing

@Suite("Durability options declared with the Swift SDK")
struct HandlerOptionsTests {
    @Test("a handler's retry policy (2 attempts, then kill) wins over its service's (pause) and the engine's")
    func handlerRetryPolicyWins() async throws {
        let probe = Probe()
        let service = Service("Options")
            .handler("fragile") { (_: Context, _: NoInput) -> String in
                probe.hit("fragile")
                throw Flaky()
            }
            .handler("sturdy") { (_: Context, _: NoInput) -> String in
                probe.hit("sturdy")
                throw Flaky()
            }
            .options(
                DurabilityOptions(
                    retryPolicy: InvocationRetryPolicy(
                        initialInterval: .milliseconds(5),
                        maxAttempts: 3,
                        onMaxAttempts: .pause
                    )
                )
            )
            .options(
                DurabilityOptions(retryPolicy: InvocationRetryPolicy(maxAttempts: 2, onMaxAttempts: .kill)),
                forHandler: "fragile"
            )
        try await withEngine([service]) { engine in
            let result = try await engine.call("Options/fragile")
            guard case .failure(let failure) = result else {
                Issue.record("expected the retry policy to kill the invocation, got \(result)")
                return
            }
            #expect(failure.code == 500)
            #expect(probe.count("fragile") == 2)

            let receipt = try await engine.send(
                Engine.Request(target: InvocationTarget(service: "Options", handler: "sturdy"), body: Data())
            )
            // A wait, not a timing check: on a loaded CI machine the whole test takes 30 to 50 s.
            let deadline = ContinuousClock.now + .seconds(90)
            while try await engine.describe(receipt.id)?.status != .paused {
                guard ContinuousClock.now < deadline else { throw CancellationError() }
                try await Task.sleep(for: .milliseconds(10))
            }
            #expect(probe.count("sturdy") == 3)
        }
    }

    @Test("options reach the manifest as Restate's discovery fields")
    func manifestFields() throws {
        let workflow = Workflow("Signup")
            .run { (_: WorkflowContext) in "done" }
            .options(DurabilityOptions(idempotencyRetention: .seconds(60), ingressPrivate: false))
            .options(
                DurabilityOptions(
                    retryPolicy: InvocationRetryPolicy(
                        initialInterval: .milliseconds(250),
                        factor: 1.5,
                        maxInterval: .seconds(5),
                        maxAttempts: 4,
                        onMaxAttempts: .kill
                    ),
                    workflowRetention: .seconds(7200)
                ),
                forHandler: "run"
            )
        let service = try #require(Endpoint(workflow).manifest.services.first)
        #expect(service.idempotencyRetention == 60_000)
        #expect(service.ingressPrivate == false)
        let run = try #require(service.handlers.first)
        #expect(run.workflowCompletionRetention == 7_200_000)
        #expect(run.retryPolicyInitialInterval == 250)
        #expect(run.retryPolicyExponentiationFactor == 1.5)
        #expect(run.retryPolicyMaxInterval == 5_000)
        #expect(run.retryPolicyMaxAttempts == 4)
        #expect(run.retryPolicyOnMaxAttempts == .kill)
    }
}

@Suite("Stuck attempts")
struct AbortTimeoutTests {
    @Test(
        "an attempt that does not end after the inactivity timeout closed its input is aborted after the abort timeout and retried",
        .timeLimit(.minutes(1))
    )
    func stuckAttemptIsAborted() async throws {
        let probe = Probe()
        // The first attempt's step hangs (as an endpoint that stopped answering would); later ones return at once.
        let stuck = Service("Stuck").handler("run") { (ctx: Context, _: String?) in
            try await ctx.run("step") {
                if probe.hit("step") == 1 { try await Task.sleep(for: .seconds(3600)) }
                return "done"
            }
        }
        let configuration = EngineConfiguration(
            retryPolicy: RetryPolicy(initialInterval: .milliseconds(5), maxInterval: .milliseconds(50), maxAttempts: 5),
            inactivityTimeout: .milliseconds(100),
            abortTimeout: .milliseconds(200)
        )
        let clock = ManualClock()
        let start = clock.now()
        let result = try await withStoreAndEngine([Endpoint([stuck])], configuration: configuration, clock: clock) {
            engine,
            _ in
            let id = try await engine.send("Stuck/run")
            while probe.count("step") == 0 { try await Task.sleep(for: .milliseconds(1)) }
            // The partition's timer loop sleeps until the first sweep (a quarter of the inactivity timeout):
            // from then on, advancing the clock runs every sweep at its own instant.
            #expect(await clock.waitUntil { $0.contains(start + 25) })
            // Idle from the start: its input is closed at 100 ms, it is aborted 200 ms later, and retried after
            // the engine's 100 ms floor, exactly.
            await clock.advance(to: start + 299)
            #expect(await engine.deadlines(of: id).isEmpty)
            await clock.advance(to: start + 300)
            #expect(await engine.waitForDeadline(of: id) { $0 == start + 400 })
            await clock.advance(to: start + 400)
            return try await engine.attachWithinAMinute(id)
        }
        #expect(result == json("\"done\""))
        #expect(probe.count("step") == 2)
    }
}
