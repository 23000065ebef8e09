import Foundation
import Keel
import KeelCore
import KeelEngine
import KeelProtocol
import Testing

@testable import KeelSQLite

/// Whether the store holds the result of `ctx.run` number `completion` of invocation `id`.
private func storedStepResult(_ store: SQLiteStore, _ id: String, completion: UInt32) async throws -> Bool {
    guard let invocation = InvocationID(id) else { return false }
    return try await store.storedJournal(of: invocation).entries.contains { entry in
        guard entry.type == MessageType.runCompletion.rawValue,
            let notification = try? PBRunCompletionNotificationMessage(serializedBytes: entry.payload)
        else { return false }
        return notification.completionID == completion
    }
}

/// An embedded endpoint that plays a scripted SDK, frame by frame.
struct ScriptedEndpoint: EmbeddedEndpoint {
    typealias Script = @Sendable (AttemptHead, [Frame], AsyncStream<Frame>.Iterator, AttemptOutput) async throws -> Void
    let manifest = Endpoint(Service("Scripted").handler("go") { (_: Context, _: NoInput) in "" }).manifest
    let script: Script

    func handle(_ head: AttemptHead, input: AttemptInput, output: AttemptOutput) async {
        await ScriptedTransport(script: script).handle(head, input: input, output: output)
    }
}

/// A scripted SDK behind a transport that is not embedded, as an HTTP deployment is.
struct ScriptedTransport: AttemptTransport {
    let script: ScriptedEndpoint.Script

    func handle(_ head: AttemptHead, input: AttemptInput, output: AttemptOutput) async {
        var frames = input.frames().makeAsyncIterator()
        var replayed: [Frame] = []
        do {
            guard let start = await frames.next() else { return }
            let known = try start.decode(PBStartMessage.self).knownEntries
            while replayed.count < known, let frame = await frames.next() { replayed.append(frame) }
            try await script(head, replayed, frames, output)
        } catch {
            output.yield(.error(code: 500, message: "script: \(error)"))
        }
    }
}

@Suite("Step results the handler goes on with before they are stored (embedded attempts)")
struct SpeculativeStepTests {
    @Test("1-step calls take one transaction each, not two: the step's result rides with the completion")
    func oneCommitPerOneStepCall() async throws {
        let service = Service("Steps").handler("one") { (ctx: Context, _: NoInput) -> Int in
            try await ctx.run("step") { 1 }
        }
        let commits = try await withStoreAndEngine([Endpoint(service)]) { engine, store in
            _ = try await engine.call("Steps/one")
            // Every transaction that inserts rows raises the stored sequence once.
            try await store.execute(
                sql: """
                    CREATE TABLE commit_count(n INTEGER NOT NULL);
                    INSERT INTO commit_count VALUES (0);
                    CREATE TRIGGER count_commits AFTER UPDATE ON meta WHEN NEW.name = 'max_sequence'
                    BEGIN UPDATE commit_count SET n = n + 1; END
                    """
            )
            for _ in 0..<20 { #expect(try await engine.call("Steps/one") == json("1")) }
            return Int(try await store.scalar("SELECT n FROM commit_count") ?? "") ?? -1
        }
        // Storing each result before the handler goes on takes 40. A loaded machine splits some: the 2 ms lazy
        // deadline can pass before a descheduled handler sends its completion (a fresh clone's full parallel suite,
        // the chaos test among it, once went past 26), so the bound is what tells the mechanisms apart, not a timing.
        #expect(commits >= 20 && commits < 40, "\(commits) transactions for 20 calls")
    }

    @Test("a step body runs only once the result the handler went on with before it is stored")
    func nextStepWaitsForStoredResult() async throws {
        let box = Box<SQLiteStore>()
        let service = Service("Steps").handler("two") { (ctx: Context, _: NoInput) -> [Bool] in
            let id = ctx.invocationID
            let first = try await ctx.run("first") { 41 }
            let seen = try await ctx.run("second") { () -> Bool in
                guard let store = box.value else { return false }
                return try await storedStepResult(store, id, completion: 1)
            }
            return [first == 41, seen]
        }
        let result = try await withStoreAndEngine([Endpoint(service)]) { engine, store in
            box.value = store
            var results: [InvocationResult] = []
            for _ in 0..<10 { results.append(try await engine.call("Steps/two")) }
            return results
        }
        for outcome in result { #expect(outcome == json("[true,true]")) }
    }

    @Test("a call made after a step reaches its callee only once the step's result is stored")
    func callWaitsForStoredResult() async throws {
        let box = Box<SQLiteStore>()
        let callee = Service("Callee").handler("check") { (_: Context, caller: String) -> Bool in
            guard let store = box.value else { return false }
            return try await storedStepResult(store, caller, completion: 1)
        }
        let caller = Service("Caller").handler("go") { (ctx: Context, _: NoInput) -> Bool in
            try await ctx.run("step") { 1 }
            return try await ctx.call(service: "Callee", handler: "check", input: ctx.invocationID, as: Bool.self).value
        }
        let results = try await withStoreAndEngine([Endpoint([callee, caller])]) { engine, store in
            box.value = store
            var results: [InvocationResult] = []
            for _ in 0..<10 { results.append(try await engine.call("Caller/go")) }
            return results
        }
        for outcome in results { #expect(outcome == json("true")) }
    }

    @Test(
        "a result the handler went on with is stored within the writer's lazy delay while the handler is busy elsewhere"
    )
    func resultStoredWhileHandlerBusy() async throws {
        let box = Box<SQLiteStore>()
        let probe = Probe()
        let service = Service("Steps").handler("busy") { (ctx: Context, _: NoInput) -> Bool in
            let id = ctx.invocationID
            // Longer than the lazy delay: the step's command is written before its result comes.
            try await ctx.run("first") { () -> Int in
                try await Task.sleep(for: .milliseconds(20))
                return 1
            }
            // Not a durable wait: the engine sees nothing of it.
            let deadline = ContinuousClock.now + .seconds(5)
            var stored = false
            while !stored, ContinuousClock.now < deadline {
                try await Task.sleep(for: .milliseconds(2))
                if let store = box.value { stored = try await storedStepResult(store, id, completion: 1) }
            }
            probe.log("stored after the step: \(stored)")
            return stored
        }
        let warmUp = Service("Warm").handler("up") { (_: Context, _: NoInput) in 0 }
        let result = try await withStoreAndEngine([Endpoint([service, warmUp])]) { engine, store in
            box.value = store
            // Let the commit thread go to sleep with nothing due, as on an idle server.
            _ = try await engine.call("Warm/up")
            try await Task.sleep(for: .milliseconds(50))
            return try await engine.call("Steps/busy")
        }
        #expect(result == json("true"), "\(probe.log)")
    }

    @Test("a CANCEL that arrived during a step is raised at the step's await, as a replay would")
    func cancelDuringStepIsRaisedAtTheStep() async throws {
        let box = Box<Engine>()
        let service = Service("Steps").handler("cancelled") { (ctx: Context, _: NoInput) -> String in
            let id = ctx.invocationID
            try await ctx.run("step") {
                // Stored and handed to the SDK before cancel returns.
                guard let engine = box.value, let invocation = InvocationID(id) else { return }
                _ = try await engine.cancel(invocation)
            }
            return "went on"
        }
        let result = try await withStoreAndEngine([Endpoint(service)]) { engine, _ in
            box.value = engine
            return try await engine.call("Steps/cancelled")
        }
        #expect(result == .failure(Failure(code: 409, message: "cancelled")))
    }

    /// An SDK that goes on past its step without having seen a CANCEL stored meanwhile, and says so beside its
    /// proposal; a later attempt reports the journal's order as its output.
    private static func cancelBeforeSpeculativeResult(
        _ box: Box<Engine>,
        _ attempts: Probe
    ) -> ScriptedEndpoint.Script {
        { head, replayed, _, output in
            let attempt = attempts.hit("attempt")
            guard attempt == 1 else {
                // The replay: report the journal's order as the output.
                let names = replayed.map { frame in frame.messageType.map { "\($0)" } ?? "custom" }
                let text = "\"" + names.joined(separator: ",") + "\""
                output.yield(
                    try Frame(
                        type: .output,
                        message: PBOutputCommandMessage.with {
                            $0.value = PBValue.with { $0.content = Data(text.utf8) }
                        }
                    )
                )
                output.yield(try Frame(type: .end, message: PBEndMessage()))
                return
            }
            output.yield(
                try Frame(
                    type: .run,
                    message: PBRunCommandMessage.with {
                        $0.resultCompletionID = 1
                        $0.name = "step"
                    }
                )
            )
            // An SDK that goes on without having seen the CANCEL stored meanwhile.
            if let engine = box.value, let text = head.headers["x-restate-invocation-id"], let id = InvocationID(text) {
                _ = try await engine.cancel(id)
            }
            let proposal = try Frame(
                type: .proposeRunCompletion,
                message: PBProposeRunCompletionMessage.with {
                    $0.resultCompletionID = 1
                    $0.value = Data("1".utf8)
                }
            )
            output.yield(AttemptOutput.Entry(proposal, isSpeculative: true))
            output.yield(
                try Frame(
                    type: .output,
                    message: PBOutputCommandMessage.with {
                        $0.value = PBValue.with { $0.content = Data("\"went on\"".utf8) }
                    }
                )
            )
            output.yield(try Frame(type: .end, message: PBEndMessage()))
        }
    }

    @Test("a speculative result after a CANCEL the SDK did not see is stored, then the attempt replays in order")
    func engineReplaysWhenCancelPrecedesSpeculativeResult() async throws {
        let box = Box<Engine>()
        let attempts = Probe()
        let endpoint = ScriptedEndpoint(script: Self.cancelBeforeSpeculativeResult(box, attempts))
        let result = try await withStoreAndEngine([endpoint]) { engine, _ in
            box.value = engine
            return try await engine.call("Scripted/go")
        }
        #expect(result == json("\"input,run,signal,runCompletion\""))
        #expect(attempts.count("attempt") == 2)
    }

    @Test("an endpoint that is not embedded cannot claim speculation: its marked proposal is stored like any other")
    func remoteEndpointCannotSpeculate() async throws {
        let box = Box<Engine>()
        let attempts = Probe()
        let transport = ScriptedTransport(script: Self.cancelBeforeSpeculativeResult(box, attempts))
        let result = try await withStoreAndEngine([]) { engine, _ in
            box.value = engine
            let deployment = ServiceRegistry.Deployment(
                id: "remote",
                uri: "http://remote.invalid",
                manifest: ScriptedEndpoint(script: transport.script).manifest,
                protocolVersion: 6,
                transport: transport
            )
            try engine.registry.register(deployment, force: true)
            return try await engine.call("Scripted/go")
        }
        // Not taken speculatively: no replay for the CANCEL, and the SDK's own output stands.
        #expect(result == json("\"went on\""))
        #expect(attempts.count("attempt") == 1)
    }
}
