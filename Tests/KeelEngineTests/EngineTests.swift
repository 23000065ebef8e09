import Foundation
import Keel
import KeelCore
import KeelEngine
import KeelProtocol
import KeelSQLite
import KeelStore
import Synchronization
import Testing

/// An engine on a real SQLite file in a temporary directory, running until `body` returns.
func withEngine<T: Sendable>(
    _ services: [any ServiceDefinitionConvertible],
    configuration: EngineConfiguration = EngineConfiguration(
        retryPolicy: RetryPolicy(initialInterval: .milliseconds(5), maxInterval: .milliseconds(50), maxAttempts: 5)
    ),
    _ body: @escaping @Sendable (Engine) async throws -> T
) async throws -> T {
    try await withStoreAndEngine([Endpoint(services)], configuration: configuration) { engine, _ in
        try await body(engine)
    }
}

/// `withEngine` for any embedded endpoints, with the store handed to `body` too (to inspect or sabotage it).
/// `crashedWith` is written to the store first, as a crash would have left it. Recovery that has not returned
/// after a minute fails the test (`RecoveryHung`) instead of stalling the suite.
func withStoreAndEngine<T: Sendable>(
    _ endpoints: [any EmbeddedEndpoint],
    configuration: EngineConfiguration = EngineConfiguration(
        retryPolicy: RetryPolicy(initialInterval: .milliseconds(5), maxInterval: .milliseconds(50), maxAttempts: 5)
    ),
    crashedWith operations: [StoreOperation] = [],
    clock: any EngineClock = SystemClock(),
    _ body: @escaping @Sendable (Engine, SQLiteStore) async throws -> T
) async throws -> T {
    let directory = FileManager.default.temporaryDirectory.appendingPathComponent("keel-engine-\(UUID().uuidString)")
    defer { try? FileManager.default.removeItem(at: directory) }
    let store = try SQLiteStore(directory: directory)
    if !operations.isEmpty { try await store.apply(operations) }
    let engine = Engine(store: store, endpoints: endpoints, configuration: configuration, clock: clock)
    try await withinAMinute { try await engine.recover() }
    return try await withThrowingTaskGroup(of: T?.self) { group in
        group.addTask {
            try await engine.run()
            return nil
        }
        group.addTask { try await body(engine, store) }
        defer { group.cancelAll() }
        while let result = try await group.next() {
            if let result { return result }
        }
        throw CancellationError()
    }
}

/// Waits (real time, up to 10 s) for `condition`; false when it never held.
func eventually(_ condition: @Sendable () async throws -> Bool) async throws -> Bool {
    let start = ContinuousClock.now
    while ContinuousClock.now - start < .seconds(10) {
        if try await condition() { return true }
        try await Task.sleep(for: .milliseconds(2))
    }
    return false
}

/// Hands a value to handlers defined before it exists.
final class Box<Value: Sendable>: Sendable {
    private let storage = Mutex<Value?>(nil)
    var value: Value? {
        get { storage.withLock { $0 } }
        set { storage.withLock { $0 = newValue } }
    }
}

/// Thread-safe counters and logs shared with handlers.
final class Probe: Sendable {
    private let counts = Mutex<[String: Int]>([:])
    private let lines = Mutex<[String]>([])

    @discardableResult
    func hit(_ name: String) -> Int {
        counts.withLock { counts in
            counts[name, default: 0] += 1
            return counts[name] ?? 0
        }
    }

    func count(_ name: String) -> Int { counts.withLock { $0[name] ?? 0 } }
    func log(_ line: String) { lines.withLock { $0.append(line) } }
    var log: [String] { lines.withLock { $0 } }
}

struct Flaky: Error {}

extension Engine {
    func call(_ target: String, key: String? = nil, _ body: String = "") async throws -> InvocationResult {
        let parts = target.split(separator: "/").map(String.init)
        let request = Request(
            target: InvocationTarget(service: parts[0], handler: parts[1], key: key),
            body: Data(body.utf8)
        )
        return try await call(request).result
    }

    func send(_ target: String, key: String? = nil, _ body: String = "") async throws -> InvocationID {
        let parts = target.split(separator: "/").map(String.init)
        return try await send(
            Request(target: InvocationTarget(service: parts[0], handler: parts[1], key: key), body: Data(body.utf8))
        ).id
    }
}

func json(_ text: String) -> InvocationResult { .success(Data(text.utf8)) }

@Suite("The engine, with embedded services on a real SQLite store")
struct EngineTests {
    @Test("a call runs the handler and returns its output")
    func call() async throws {
        let greeter = Service("Greeter").handler("greet") { (_: Context, name: String) in "Hello, \(name)!" }
        let result = try await withEngine([greeter]) { engine in try await engine.call("Greeter/greet", "\"World\"") }
        #expect(result == json("\"Hello, World!\""))
    }

    @Test("a handler that fails with a plain error is retried until it succeeds; completed steps are not rerun")
    func retriesTransientFailures() async throws {
        let probe = Probe()
        let flaky = Service("Flaky").handler("run") { (ctx: Context, _: NoInput) in
            try await ctx.run("before") { probe.hit("before") }
            if probe.hit("attempt") < 3 { throw Flaky() }
            return "done"
        }
        let result = try await withEngine([flaky]) { engine in try await engine.call("Flaky/run") }
        #expect(result == json("\"done\""))
        #expect(probe.count("attempt") == 3)
        #expect(probe.count("before") == 1)
    }

    @Test("a TerminalError completes the invocation with the failure and is not retried")
    func terminalFailure() async throws {
        let probe = Probe()
        let failing = Service("Failing").handler("run") { (_: Context, _: NoInput) -> String in
            probe.hit("attempt")
            throw TerminalError("out of stock", code: 409)
        }
        let result = try await withEngine([failing]) { engine in try await engine.call("Failing/run") }
        #expect(result == .failure(Failure(code: 409, message: "out of stock")))
        #expect(probe.count("attempt") == 1)
    }

    @Test("a handler that always fails is paused when its retry policy runs out, and keeps no waiter forever")
    func pausesAfterMaxAttempts() async throws {
        let probe = Probe()
        let clock = ManualClock()
        let broken = Service("Broken").handler("run") { (_: Context, _: NoInput) -> String in
            probe.log("\(clock.now())")
            throw Flaky()
        }
        let start = clock.now()
        let configuration = EngineConfiguration(
            retryPolicy: RetryPolicy(initialInterval: .milliseconds(5), maxInterval: .milliseconds(50), maxAttempts: 5)
        )
        try await withStoreAndEngine([Endpoint([broken])], configuration: configuration, clock: clock) { engine, _ in
            let id = try await engine.send("Broken/run")
            // The policy asks for 5, 10, 20, 40 ms; the engine's floor (100 ms) holds each retry back.
            for retry in 1...4 {
                let due = start + Int64(retry) * 100
                #expect(await engine.waitForDeadline(of: id) { $0 == due }, "retry \(retry)")
                await clock.advance(to: due)
            }
            let deadline = ContinuousClock.now + .seconds(10)
            while try await engine.describe(id)?.status != .paused, ContinuousClock.now < deadline {
                try await Task.sleep(for: .milliseconds(1))
            }
            #expect(try await engine.describe(id)?.status == .paused)
            #expect(await engine.deadlines(of: id).isEmpty)
            #expect(try await engine.output(id) == nil)
        }
        #expect(probe.log == (0..<5).map { "\(start + Int64($0) * 100)" })
    }

    @Test("exclusive calls on one key run one at a time in arrival order; other keys run in parallel")
    func exclusiveHandlersQueuePerKey() async throws {
        let probe = Probe()
        let object = VirtualObject("Queue").handler("work") { (ctx: ObjectContext, label: String) in
            probe.log("start \(ctx.key) \(label)")
            try await ctx.run("sleep") { try await Task.sleep(for: .milliseconds(20)) }
            probe.log("end \(ctx.key) \(label)")
            return label
        }
        try await withEngine([object]) { engine in
            var ids: [InvocationID] = []
            for label in 0..<5 { ids.append(try await engine.send("Queue/work", key: "a", "\"\(label)\"")) }
            ids.append(try await engine.send("Queue/work", key: "b", "\"x\""))
            for id in ids { _ = try await engine.attach(id) }
        }
        let onA = probe.log.filter { $0.contains(" a ") }
        #expect(onA == (0..<5).flatMap { ["start a \($0)", "end a \($0)"] })
        let log = probe.log
        let startB = try #require(log.firstIndex(of: "start b x"))
        let endA4 = try #require(log.firstIndex(of: "end a 4"))
        #expect(startB < endA4, "key b waited for key a: \(log)")
    }

    /// As in Restate, state written by an exclusive handler is applied when its command is stored, so a
    /// shared handler sees it at once; what matters is that it does not wait for the lock.
    @Test("a shared handler reads stored state while an exclusive handler holds the lock")
    func sharedHandlersDoNotWait() async throws {
        let gate = Probe()
        let object = VirtualObject("Box")
            .handler("put") { (ctx: ObjectContext, value: Int) in
                try ctx.set("value", value)
                return value
            }
            .handler("hold") { (ctx: ObjectContext, _: NoInput) in
                try ctx.set("value", 99)
                gate.hit("held")
                while gate.count("release") == 0 { try await Task.sleep(for: .milliseconds(5)) }
                return 0
            }
            .shared("peek") { (ctx: ObjectSharedContext) in try await ctx.get("value", as: Int.self) ?? -1 }
        try await withEngine([object]) { engine in
            #expect(try await engine.call("Box/put", key: "k", "1") == json("1"))
            let holding = try await engine.send("Box/hold", key: "k")
            // The exclusive handler has written; its SetState is stored with the next commit (at most
            // `lazyDelay` later). Each peek returns at once: one that waited for the lock would never return.
            let deadline = ContinuousClock.now + .seconds(10)
            while gate.count("held") == 0, ContinuousClock.now < deadline {
                try await Task.sleep(for: .milliseconds(5))
            }
            var peeked = try await engine.call("Box/peek", key: "k")
            while peeked != json("99"), ContinuousClock.now < deadline {
                try await Task.sleep(for: .milliseconds(5))
                peeked = try await engine.call("Box/peek", key: "k")
            }
            #expect(peeked == json("99"))
            #expect(try await engine.output(holding) == nil, "the exclusive handler still holds the lock")
            gate.hit("release")
            _ = try await engine.attach(holding)
            #expect(try await engine.call("Box/peek", key: "k") == json("99"))
        }
    }

    @Test("requests for unknown services, unknown handlers or with a wrong key are refused before anything is stored")
    func resolution() async throws {
        let greeter = Service("Greeter").handler("greet") { (_: Context, name: String) in name }
        let counter = VirtualObject("Counter").handler("add") { (_: ObjectContext, delta: Int) in delta }
        try await withEngine([greeter, counter]) { engine in
            await #expect(throws: EngineError.self) { try await engine.call("Nope/greet") }
            await #expect(throws: EngineError.self) { try await engine.call("Greeter/shout") }
            await #expect(throws: EngineError.self) { try await engine.call("Greeter/greet", key: "k", "\"x\"") }
            await #expect(throws: EngineError.self) { try await engine.call("Counter/add", "1") }
        }
    }
}
