import Foundation
import Keel
import KeelCore
import KeelEngine
import KeelProtocol
import KeelStore
import Testing

/// Input and endpoints that misbehave: the engine answers with a clear error or a paused invocation, and never
/// spins or traps.
@Suite("Hostile input and misbehaving endpoints")
struct HostileInputTests {
    static let patient = EngineConfiguration(
        retryPolicy: RetryPolicy(initialInterval: .milliseconds(5), maxInterval: .milliseconds(5), maxAttempts: 1_000)
    )

    @Test("an endpoint that re-suspends at once on a notification it has, without progress, is paused with a reason")
    func resuspensionLoopPauses() async throws {
        let attempts = Probe()
        let endpoint = ScriptedEndpoint { _, replayed, _, output in
            attempts.hit("attempt")
            if replayed.count == 1 {
                output.yield(
                    try Frame(
                        type: .sleep,
                        message: PBSleepCommandMessage.with {
                            $0.resultCompletionID = 1
                            $0.wakeUpTime = 0
                        }
                    )
                )
            }
            output.yield(
                try Frame(type: .suspension, message: PBSuspensionMessageV6.with { $0.waitingCompletions = [1] })
            )
        }
        let record: InvocationRecord? = try await withStoreAndEngine([endpoint], configuration: Self.patient) {
            engine,
            _ in
            let id = try await engine.send("Scripted/go")
            // Generous: on a loaded 2-core CI machine each resumption waits for a commit and a new attempt.
            let deadline = ContinuousClock.now + .seconds(60)
            while ContinuousClock.now < deadline {
                if let record = try await engine.describe(id), record.status == .paused { return record }
                try await Task.sleep(for: .milliseconds(20))
            }
            return try await engine.describe(id)
        }
        #expect(record?.status == .paused)
        #expect(
            record?.lastFailure?.contains("loops without progress") == true,
            "\(record?.lastFailure ?? "no failure")"
        )
        #expect(attempts.count("attempt") <= AttemptRules.maxResumptionsWithoutProgress + 3)
    }

    @Test("a key with a NUL is refused before anything is stored")
    func nulKey() async throws {
        try await withEngine([RecoveryTests.counter]) { (engine: Engine) async throws in
            await #expect(throws: EngineError.self) { try await engine.call("Counter/add", key: "k\u{0}x", "1") }
            #expect(try await engine.call("Counter/add", key: "k", "1") == json("1"))
        }
    }

    @Test("a delay of ten thousand years is stored as a due time, not trapped on")
    func absurdDelay() async throws {
        try await withEngine([RecoveryTests.counter]) { engine in
            let request = Engine.Request(
                target: InvocationTarget(service: "Counter", handler: "add", key: "far"),
                body: Data("1".utf8),
                delay: .seconds(Int64(3_650_000) * 86_400)
            )
            let receipt = try await engine.send(request)
            #expect((receipt.executeAt ?? 0) > Int64(3_000_000) * 86_400_000)
            #expect(try await engine.output(receipt.id) == nil)
        }
    }

    @Test("awakeable ids built from reserved signals (CANCEL) or never-created indices are refused")
    func forgedAwakeables() async throws {
        let waiter = Service("Waiter").handler("wait") { (ctx: Context, _: NoInput) -> String in
            let (_, answer) = try ctx.awakeable(of: String.self)
            return try await answer.value
        }
        try await withEngine([waiter]) { engine in
            let id = try await engine.send("Waiter/wait")
            try await Task.sleep(for: .milliseconds(100))
            let forgeries: [(UInt32, EngineError.Code)] = [
                (1, .badRequest), (0, .badRequest), (16, .badRequest), (17 + 16 * 64, .notFound),
            ]
            for (index, expected) in forgeries {
                let forged = AwakeableID(invocationID: id, signalIndex: index).description
                do {
                    try await engine.completeAwakeable(forged, with: json("\"x\""))
                    Issue.record("signal \(index) was accepted")
                } catch let error as EngineError {
                    #expect(error.code == expected, "signal \(index): \(error)")
                }
            }
            #expect(try await engine.output(id) == nil, "the forged completions reached the invocation")
            try await engine.completeAwakeable(
                AwakeableID(invocationID: id, signalIndex: 17).description,
                with: json("\"real\"")
            )
            #expect(try await engine.attach(id) == json("\"real\""))
        }
    }
}
