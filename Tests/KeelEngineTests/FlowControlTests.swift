import Foundation
import Keel
import KeelCore
import KeelProtocol
import KeelSQLite
import KeelStore
import Testing

@testable import KeelEngine

@Suite("Concurrency and rate limits in the engine")
struct FlowControlTests {
    struct Job: Codable, Sendable {
        var k: String
        var n: Int
    }

    @Test("limit 1, maxRuns 1: keys A, A, B, B, C, C submitted in that order run A, B, C, A, B, C")
    func roundRobinOrder() async throws {
        let probe = Probe()
        let gate = Latch()
        let lane = Service("Lane").handler("run") { (_: Context, job: Job) in
            probe.log("\(job.k)\(job.n)")
            await gate.wait()
        }
        .options(DurabilityOptions(concurrency: .init(key: "$.k", limit: 1, maxRuns: 1)), forHandler: "run")
        let metadata = Endpoint([lane]).manifest.services.first?.handlers.first?.metadata
        #expect(metadata?["keel.concurrency"] == #"{"key":"$.k","limit":1,"maxRuns":1,"strategy":"queue"}"#)
        try await withStoreAndEngine([Endpoint([lane])]) { engine, _ in
            var ids: [InvocationID] = []
            for (k, n) in [("A", 1), ("A", 2), ("B", 1), ("B", 2), ("C", 1), ("C", 2)] {
                ids.append(try await engine.send("Lane/run", #"{"k":"\#(k)","n":\#(n)}"#))
            }
            #expect(try await eventually { probe.log == ["A1"] })
            try await Task.sleep(for: .milliseconds(50))
            #expect(probe.log == ["A1"], "one runs at a time")
            gate.open()
            for id in ids { _ = try await engine.attachWithinAMinute(id) }
            #expect(probe.log == ["A1", "B1", "C1", "A2", "B2", "C2"])
        }
    }

    @Test("cancelNewest: a call at a full key fails at once with 409; the running one is unaffected")
    func cancelNewest() async throws {
        let gate = Latch()
        let probe = Probe()
        let lane = VirtualObject("Only").shared("run") { (ctx: ObjectSharedContext, _: NoInput) -> String in
            probe.log(ctx.key)
            await gate.wait()
            return "ran"
        }
        .options(
            DurabilityOptions(concurrency: .init(key: "$key", limit: 1, strategy: .cancelNewest)),
            forHandler: "run"
        )
        try await withStoreAndEngine([Endpoint([lane])]) { engine, _ in
            let first = try await engine.send("Only/run", key: "k")
            #expect(try await eventually { probe.log == ["k"] })
            let refused = try await engine.call("Only/run", key: "k")
            guard case .failure(let failure) = refused else {
                Issue.record("the newest ran: \(refused)")
                return
            }
            #expect(failure.code == 409 && failure.message.contains("cancelNewest"), "\(failure)")
            let other = try await engine.send("Only/run", key: "other")
            gate.open()
            #expect(try await engine.attachWithinAMinute(first) == json("\"ran\""))
            #expect(try await engine.attachWithinAMinute(other) == json("\"ran\""))
        }
    }

    @Test(
        "a rate limit of 10 per minute: 25 sent at once, 20 have run after a simulated minute; reject mode answers 429"
    )
    func rateLimitOverAMinute() async throws {
        let probe = Probe()
        let mail = Service("Mail")
            .handler("send") { (_: Context, _: NoInput) in probe.hit("sent") }
            .handler("strict") { (_: Context, _: NoInput) in probe.hit("strict") }
            .options(
                DurabilityOptions(rateLimits: [RateLimit(key: "emails", limit: 10, per: .seconds(60))]),
                forHandler: "send"
            )
            .options(
                DurabilityOptions(
                    rateLimits: [RateLimit(key: "$.tenant", limit: 1, per: .seconds(3_600), onExceeded: .reject)]
                ),
                forHandler: "strict"
            )
        let clock = ManualClock()
        let start = clock.now()
        let configuration = EngineConfiguration(purgeInterval: .seconds(86_400))
        try await withStoreAndEngine([Endpoint([mail])], configuration: configuration, clock: clock) { engine, _ in
            var ids: [InvocationID] = []
            for _ in 0..<25 { ids.append(try await engine.send("Mail/send")) }
            for id in ids.suffix(15) {
                #expect(await engine.deadline(of: id) { $0 > start } != nil)
            }
            await clock.advance(to: start + 60_000)
            #expect(try await eventually { probe.count("sent") == 20 })
            try await Task.sleep(for: .milliseconds(100))
            #expect(probe.count("sent") == 20)
            _ = try await engine.send("Mail/strict", #"{"tenant":"t1"}"#)
            _ = try await engine.send("Mail/strict", #"{"tenant":"t2"}"#)
            await #expect(throws: EngineError.self) { try await engine.send("Mail/strict", #"{"tenant":"t1"}"#) }
            do {
                _ = try await engine.send("Mail/strict", #"{"tenant":"t1"}"#)
            } catch let error as EngineError {
                #expect(error.code == .rateLimited && error.message.contains("rate limit"), "\(error)")
            }
        }
    }

    @Test("slots are rebuilt from the store at start: a suspended holder keeps its slot, the waiting one waits")
    func slotsSurviveRestart() async throws {
        let probe = Probe()
        let lane = Service("Held").handler("run") { (ctx: Context, job: Job) -> String in
            probe.log("start \(job.n)")
            if job.n == 1 {
                let (id, answer) = try ctx.awakeable(of: String.self)
                probe.log("awakeable \(id)")
                return try await answer.value
            }
            return "second"
        }
        .options(DurabilityOptions(concurrency: .init(key: "$.k", limit: 1)), forHandler: "run")
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("keel-flow-\(UUID().uuidString)")
        defer { try? FileManager.default.removeItem(at: directory) }
        let ids = Box<[InvocationID]>()
        try await withEngine(at: directory, [Endpoint([lane])], clock: SystemClock()) { engine in
            let first = try await engine.send("Held/run", #"{"k":"x","n":1}"#)
            #expect(try await eventually { probe.log.contains { $0.hasPrefix("awakeable") } })
            let second = try await engine.send("Held/run", #"{"k":"x","n":2}"#)
            try await Task.sleep(for: .milliseconds(50))
            #expect(!probe.log.contains("start 2"))
            ids.value = [first, second]
        }
        let (first, second) = try #require(ids.value.map { ($0[0], $0[1]) })
        try await withEngine(at: directory, [Endpoint([lane])], clock: SystemClock()) { engine in
            try await Task.sleep(for: .milliseconds(100))
            #expect(!probe.log.contains("start 2"), "the waiting one stays waiting after the restart")
            let awakeable = try #require(probe.log.last { $0.hasPrefix("awakeable") }?.split(separator: " ").last)
            try await engine.completeAwakeable(String(awakeable), with: json("\"first\""))
            #expect(try await engine.attachWithinAMinute(first) == json("\"first\""))
            #expect(try await engine.attachWithinAMinute(second) == json("\"second\""))
        }
    }

    @Test("limits set at run time apply to new invocations, survive a restart, and null goes back to the declaration")
    func runTimeLimits() async throws {
        let probe = Probe()
        let mail = Service("Mail").handler("send") { (_: Context, _: NoInput) in probe.hit("sent") }
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent(
            "keel-limits-\(UUID().uuidString)"
        )
        defer { try? FileManager.default.removeItem(at: directory) }
        try await withEngine(at: directory, [Endpoint([mail])], clock: SystemClock()) { engine in
            #expect(try engine.handlerLimits(service: "Mail", handler: "send") == (nil, nil))
            await #expect(throws: EngineError.self) {
                _ = try await engine.updateHandlerLimits(
                    service: "Mail",
                    handler: "send",
                    concurrency: .set(#"{"limit": 0}"#),
                    rateLimits: .unchanged
                )
            }
            await #expect(throws: EngineError.self) {
                _ = try await engine.updateHandlerLimits(
                    service: "Mail",
                    handler: "nope",
                    concurrency: .unchanged,
                    rateLimits: .unchanged
                )
            }
            let set = try await engine.updateHandlerLimits(
                service: "Mail",
                handler: "send",
                concurrency: .unchanged,
                rateLimits: .set(#"[{"key": "all", "limit": 1, "period": "1h", "onExceeded": "reject"}]"#)
            )
            #expect(set.rateLimits?.contains("reject") == true)
            _ = try await engine.send("Mail/send")
            await #expect(throws: EngineError.self) { _ = try await engine.send("Mail/send") }
        }
        try await withEngine(at: directory, [Endpoint([mail])], clock: SystemClock()) { engine in
            // The limit is back from the store (its bucket starts full again).
            _ = try await engine.send("Mail/send")
            await #expect(throws: EngineError.self) { _ = try await engine.send("Mail/send") }
            let reset = try await engine.updateHandlerLimits(
                service: "Mail",
                handler: "send",
                concurrency: .unchanged,
                rateLimits: .declared
            )
            #expect(reset.rateLimits == nil)
            _ = try await engine.send("Mail/send")
        }
    }
}
