import Foundation
import InMemoryTracing
import Keel
import KeelCore
import KeelSQLite
import Synchronization
import Testing
import Tracing

@testable import KeelEngine

/// The engine's spans (`InvocationTracing`), recorded by swift-distributed-tracing's in-memory tracer on a real
/// SQLite store: their names, parents, events and results, and that they stay in one trace across a restart.
@Suite("Tracing")
struct TracingTests {
    static let greeter = Service("Greeter").handler("greet") { (_: Context, name: String) in "Hello, \(name)!" }
    static let traced = Service("Traced").handler("run") { (ctx: Context, name: String) in
        let one = try await ctx.run("one") { 1 }
        let greeting = try await ctx.call(service: "Greeter", handler: "greet", input: name, as: String.self).value
        _ = try ctx.send(service: "Greeter", handler: "greet", input: "later")
        return "\(greeting) \(one)"
    }
    /// Awakeable ids handed out by `Waiter/wait`, so the test can complete them.
    static let awakeables = Mutex<[String]>([])
    static let waiter = Service("Waiter").handler("wait") { (ctx: Context, _: String) in
        let (id, answer) = try ctx.awakeable(of: String.self)
        _ = try await ctx.run("publish") {
            Self.awakeables.withLock { $0.append(id) }
            return id
        }
        return try await answer.value
    }

    /// A tracer with random ids, so two tracers (two processes) never hand out the same.
    static func tracer() -> InMemoryTracer {
        InMemoryTracer(
            idGenerator: .init(nextTraceID: { UUID().uuidString }, nextSpanID: { UUID().uuidString })
        )
    }

    static func configuration(_ tracer: InMemoryTracer) -> EngineConfiguration {
        var configuration = EngineConfiguration(
            retryPolicy: RetryPolicy(initialInterval: .milliseconds(5), maxInterval: .milliseconds(50), maxAttempts: 5)
        )
        configuration.tracer = tracer
        return configuration
    }

    /// Waits (up to 10 s) until `tracer` has finished a span named `name`.
    static func span(_ name: String, in tracer: InMemoryTracer) async throws -> FinishedInMemorySpan {
        let deadline = ContinuousClock.now + .seconds(10)
        while ContinuousClock.now < deadline {
            if let span = tracer.finishedSpans.first(where: { $0.operationName == name }) { return span }
            try await Task.sleep(for: .milliseconds(10))
        }
        throw SpanMissing(name: name, finished: tracer.finishedSpans.map(\.operationName))
    }

    struct SpanMissing: Error, CustomStringConvertible {
        var name: String
        var finished: [String]
        var description: String { "no span \(name); finished: \(finished)" }
    }

    @Test("start, attempt (commands as events) and invocation spans in the caller's trace; a call nests, a send links")
    func shape() async throws {
        let tracer = Self.tracer()
        try await withStoreAndEngine(
            [Endpoint([Self.greeter, Self.traced])],
            configuration: Self.configuration(tracer)
        ) { engine, _ in
            let request = Engine.Request(
                target: InvocationTarget(service: "Traced", handler: "run"),
                body: Data("\"Ada\"".utf8),
                headers: [(InMemoryTracer.traceIDKey, "client-trace"), (InMemoryTracer.spanIDKey, "client-span")]
            )
            let (_, result) = try await engine.call(request)
            #expect(result == .success(Data("\"Hello, Ada! 1\"".utf8)))

            let start = try await Self.span("invocation-start Traced/run", in: tracer)
            #expect(start.traceID == "client-trace")
            #expect(start.parentSpanID == "client-span")
            #expect(start.kind == .server)
            #expect(start.attributes["rpc.service"]?.toSpanAttribute() == .string("Traced"))

            let attempt = try await Self.span("invocation-attempt Traced/run", in: tracer)
            #expect(attempt.traceID == "client-trace")
            #expect(attempt.parentSpanID == start.spanID)
            let commands = attempt.events.filter { $0.name == "restate.invocation.lifecycle.new_command" }
                .compactMap { $0.attributes["restate.journal.command.type"]?.toSpanAttribute() }
            #expect(commands.contains(.string("run")), "\(commands)")
            #expect(commands.contains(.string("call")), "\(commands)")
            #expect(commands.contains(.string("oneWayCall")), "\(commands)")
            #expect(commands.contains(.string("output")), "\(commands)")

            let invocation = try await Self.span("invocation Traced/run", in: tracer)
            #expect(invocation.parentSpanID == start.spanID)
            #expect(invocation.attributes["restate.invocation.result"]?.toSpanAttribute() == .string("success"))
            #expect(invocation.startInstant.nanosecondsSinceEpoch <= attempt.startInstant.nanosecondsSinceEpoch)

            // The call's callee is a child of the calling attempt; the send starts a trace of its own, linked.
            let greetStarts = try await eventuallySpans("invocation-start Greeter/greet", count: 2, in: tracer)
            let called = greetStarts.first { $0.traceID == "client-trace" }
            #expect(called?.parentSpanID == attempt.spanID)
            let sent = greetStarts.first { $0.traceID != "client-trace" }
            #expect(sent?.parentSpanID == nil)
            #expect(sent?.links.first?.context.inMemorySpanContext?.spanID == attempt.spanID)
        }
    }

    @Test("a failed attempt's span is an error; a terminal failure marks the invocation span an error with its code")
    func failures() async throws {
        let tracer = Self.tracer()
        let attempts = Mutex(0)
        let shaky = Service("Shaky").handler("run") { (_: Context, _: String) -> String in
            let attempt = attempts.withLock {
                $0 += 1
                return $0
            }
            if attempt == 1 { throw SpanMissing(name: "transient", finished: []) }
            throw TerminalError("no such order", code: 404)
        }
        try await withStoreAndEngine([Endpoint([shaky])], configuration: Self.configuration(tracer)) { engine, _ in
            let request = Engine.Request(
                target: InvocationTarget(service: "Shaky", handler: "run"),
                body: Data("\"x\"".utf8)
            )
            let (_, result) = try await engine.call(request)
            guard case .failure(let failure) = result else {
                Issue.record("expected a failure, got \(result)")
                return
            }
            #expect(failure.code == 404)
            let invocation = try await Self.span("invocation Shaky/run", in: tracer)
            #expect(invocation.status?.code == .error)
            #expect(invocation.attributes["restate.invocation.error.code"]?.toSpanAttribute() == .int64(404))
            let attemptSpans = try await eventuallySpans("invocation-attempt Shaky/run", count: 2, in: tracer)
            #expect(attemptSpans.contains { $0.status?.code == .error })
            let start = try await Self.span("invocation-start Shaky/run", in: tracer)
            #expect(attemptSpans.allSatisfy { $0.parentSpanID == start.spanID && $0.traceID == start.traceID })
        }
    }

    @Test("after a restart the invocation's new attempt and its completion stay under the start span stored with it")
    func acrossRestart() async throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("keel-tracing-\(UUID())")
        defer { try? FileManager.default.removeItem(at: directory) }
        let before = Self.tracer()
        let after = Self.tracer()
        Self.awakeables.withLock { $0.removeAll() }
        let target = InvocationTarget(service: "Waiter", handler: "wait")

        let first = try SQLiteStore(directory: directory)
        let (id, awakeable) = try await withEngine(on: first, tracer: before) { engine in
            let receipt = try await engine.send(Engine.Request(target: target, body: Data("\"x\"".utf8)))
            // The awakeable's id is derived from the invocation, so it is the same after the restart.
            let waiting = try await eventually { Self.awakeables.withLock { !$0.isEmpty } }
            #expect(waiting)
            return (receipt.id, Self.awakeables.withLock { $0.last })
        }
        await first.close()
        let start = try await Self.span("invocation-start Waiter/wait", in: before)
        let awakeableID = try #require(awakeable)

        let second = try SQLiteStore(directory: directory)
        let output: InvocationResult? = try await withEngine(on: second, tracer: after) { engine in
            try await engine.completeAwakeable(awakeableID, with: .success(Data("\"done\"".utf8)))
            let deadline = ContinuousClock.now + .seconds(10)
            while ContinuousClock.now < deadline {
                if let output = try await engine.output(id) { return Optional(output) }
                try await Task.sleep(for: .milliseconds(10))
            }
            return InvocationResult?.none
        }
        await second.close()
        #expect(output == .success(Data("\"done\"".utf8)))
        let resumed = try await Self.span("invocation-attempt Waiter/wait", in: after)
        #expect(resumed.traceID == start.traceID)
        #expect(resumed.parentSpanID == start.spanID)
        let invocation = try await Self.span("invocation Waiter/wait", in: after)
        #expect(invocation.parentSpanID == start.spanID)
        #expect(after.finishedSpans.allSatisfy { $0.operationName != "invocation-start Waiter/wait" })
    }

    /// Runs an engine with `tracer` on `store` for `body`, then stops it (the store stays open).
    func withEngine<T: Sendable>(
        on store: SQLiteStore,
        tracer: InMemoryTracer,
        _ body: @escaping @Sendable (Engine) async throws -> T
    ) async throws -> T {
        let engine = Engine(
            store: store,
            endpoints: [Endpoint([Self.waiter])],
            configuration: Self.configuration(tracer)
        )
        try await engine.recover()
        return try await withThrowingTaskGroup(of: T?.self) { group in
            group.addTask {
                try await engine.run()
                return nil
            }
            group.addTask { try await body(engine) }
            defer { group.cancelAll() }
            while let result = try await group.next() {
                if let result { return result }
            }
            throw CancellationError()
        }
    }

    func eventuallySpans(_ name: String, count: Int, in tracer: InMemoryTracer) async throws -> [FinishedInMemorySpan] {
        let deadline = ContinuousClock.now + .seconds(10)
        while ContinuousClock.now < deadline {
            let spans = tracer.finishedSpans.filter { $0.operationName == name }
            if spans.count >= count { return spans }
            try await Task.sleep(for: .milliseconds(10))
        }
        throw SpanMissing(name: name, finished: tracer.finishedSpans.map(\.operationName))
    }
}
