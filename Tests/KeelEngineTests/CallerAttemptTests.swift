import Foundation
import Keel
import KeelCore
import KeelEngine
import KeelProtocol
import Testing

@testable import KeelSQLite

/// Marks the task a handler runs in.
enum CallerMark {
    @TaskLocal static var value: String?
}

@Suite("A call's first attempt runs in the caller's task")
struct CallerAttemptTests {
    @Test("a call runs its first attempt in the caller's task; a send's runs in the engine's")
    func callerRunsFirstAttempt() async throws {
        let marker = Service("Where").handler("mark") { (ctx: Context, _: NoInput) -> String in
            let seen = CallerMark.value ?? "engine"
            try await ctx.run("step") { () }
            return seen
        }
        try await withEngine([marker]) { engine in
            let called = try await CallerMark.$value.withValue("caller") { try await engine.call("Where/mark") }
            #expect(called == json("\"caller\""))
            let id = try await CallerMark.$value.withValue("caller") { try await engine.send("Where/mark") }
            #expect(try await engine.attach(id) == json("\"engine\""))
        }
    }

    @Test("a call whose first attempt suspends is finished by a later attempt, and its caller gets the result")
    func suspendedCallFinishesLater() async throws {
        let probe = Probe()
        let sleeper = Service("Sleeper").handler("nap") { (ctx: Context, _: NoInput) -> String in
            probe.hit("attempt")
            try await ctx.sleep(for: .milliseconds(300))
            return CallerMark.value ?? "engine"
        }
        let result = try await withEngine(
            [sleeper],
            configuration: EngineConfiguration(inactivityTimeout: .milliseconds(20))
        ) { engine in
            try await CallerMark.$value.withValue("caller") { try await engine.call("Sleeper/nap") }
        }
        #expect(result == json("\"engine\""))
        #expect(probe.count("attempt") == 2)
    }

    @Test("a call whose creation cannot be stored gets 503 and leaves nothing behind; the next call works")
    func creationNotStored() async throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent(
            "keel-engine-\(UUID().uuidString)"
        )
        defer { try? FileManager.default.removeItem(at: directory) }
        let store = try SQLiteStore(directory: directory)
        let greeter = Service("Greeter").handler("greet") { (_: Context, name: String) in "Hello, \(name)!" }
        let engine = Engine(store: store, endpoints: [Endpoint(greeter)])
        try await engine.recover()
        try await withThrowingTaskGroup(of: Void.self) { group in
            group.addTask { try await engine.run() }
            defer { group.cancelAll() }
            try await store.execute(
                sql: """
                    CREATE TRIGGER refuse_invocations BEFORE INSERT ON invocation
                    BEGIN SELECT RAISE(ABORT, 'injected: the disk refused the write'); END
                    """
            )
            let request = Engine.Request(
                target: InvocationTarget(service: "Greeter", handler: "greet"),
                body: Data("\"World\"".utf8)
            )
            do {
                _ = try await engine.call(request)
                Issue.record("the call succeeded although its invocation was not stored")
            } catch let error as EngineError {
                #expect(error.code == .unavailable, "\(error)")
                #expect(error.message.contains("injected"), "\(error)")
            }
            #expect(try await store.unfinishedInvocations().isEmpty)
            try await store.execute(sql: "DROP TRIGGER refuse_invocations")
            #expect(try await engine.call(request).result == json("\"Hello, World!\""))
        }
    }
}
