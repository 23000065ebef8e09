import Foundation
import Keel
import KeelCore
import KeelEngine
import KeelProtocol
import Testing

@testable import KeelSQLite

@Suite("Storage failures during an attempt")
struct StorageFailureTests {
    @Test(
        "a step result that cannot be stored fails the attempt; the retry runs the step again and the invocation completes"
    )
    func stepResultNotStored() async throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent(
            "keel-engine-\(UUID().uuidString)"
        )
        defer { try? FileManager.default.removeItem(at: directory) }
        let store = try SQLiteStore(directory: directory)
        let probe = Probe()
        // The step waits until the test has installed the refusal, so the invocation itself is stored first.
        let service = Service("Steps").handler("one") { (ctx: Context, _: String?) in
            try await ctx.run("step") {
                while probe.count("go") == 0 { try await Task.sleep(for: .milliseconds(1)) }
                return probe.hit("step")
            }
        }
        let engine = Engine(
            store: store,
            endpoints: [Endpoint(service)],
            configuration: EngineConfiguration(
                retryPolicy: RetryPolicy(
                    initialInterval: .milliseconds(20),
                    maxInterval: .milliseconds(50),
                    maxAttempts: 1000
                )
            )
        )
        try await engine.recover()
        try await withThrowingTaskGroup(of: Void.self) { group in
            group.addTask { try await engine.run() }
            defer { group.cancelAll() }
            let id = try await engine.send(
                Engine.Request(target: InvocationTarget(service: "Steps", handler: "one"), body: Data())
            ).id
            // Every run completion (0x8011) is refused until the trigger is dropped: its whole batch rolls back.
            try await store.execute(
                sql: """
                    CREATE TRIGGER refuse_run_completions BEFORE INSERT ON journal WHEN NEW.type = 32785
                    BEGIN SELECT RAISE(ABORT, 'injected: the disk refused the write'); END
                    """
            )
            probe.hit("go")
            // Wait until an attempt failed on the refused write, then let the disk recover.
            let deadline = ContinuousClock.now + .seconds(20)
            while try await engine.describe(id)?.lastFailure?.contains("injected") != true {
                try #require(ContinuousClock.now < deadline, "no attempt failed on the refused write")
                try await Task.sleep(for: .milliseconds(5))
            }
            try await store.execute(sql: "DROP TRIGGER refuse_run_completions")
            let result = try await engine.attach(id)
            // The stored result is the last run's: nothing ran the step after it was stored.
            #expect(result == json("\(probe.count("step"))"))
            #expect(probe.count("step") >= 2, "the step's first result was never stored, so the retry runs it again")
        }
    }
}
