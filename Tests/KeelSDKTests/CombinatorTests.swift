import Foundation
import KeelProtocol
import SwiftProtobuf
import Testing

@testable import Keel

// MARK: - Futures and combinators

@Suite("Futures and combinators")
struct CombinatorTests {
    static let racer = Service("Racer")
        .handler("timers") { (ctx: Context, _: NoInput) in
            let a = try ctx.timer(for: .seconds(1), name: "a").map { "a" }
            let b = try ctx.timer(for: .seconds(2), name: "b").map { "b" }
            return try await ctx.race(a, b)
        }
        .handler("afterStep") { (ctx: Context, _: NoInput) in
            let a = try ctx.timer(for: .seconds(1), name: "a").map { "a" }
            let b = try ctx.timer(for: .seconds(2), name: "b").map { "b" }
            let step: Int = try await ctx.run("step") { 1 }
            return "\(step) " + (try await ctx.race([a, b]))
        }

    static let timers = [try? Frame.sleep(id: 1, name: "a"), try? Frame.sleep(id: 2, name: "b")].compactMap { $0 }

    @Test("a race is decided by which notification arrived first, also on replay when both are in the journal")
    func raceOnReplay() async throws {
        var runtime = RuntimeSimulator(endpoint: Endpoint(Self.racer), service: "Racer", handler: "timers")
        runtime.closeInputAfterReplay = true
        let bFirst = try await runtime.attempt(
            input: "",
            journal: Self.timers + [try .sleepCompletion(2), try .sleepCompletion(1)]
        )
        #expect(bFirst.outputJSON == "\"b\"")
        let aFirst = try await runtime.attempt(
            input: "",
            journal: Self.timers + [try .sleepCompletion(1), try .sleepCompletion(2)]
        )
        #expect(aFirst.outputJSON == "\"a\"")
    }

    @Test("when both notifications were seen before the race, the earlier arrival still wins")
    func raceAfterBothVisible() async throws {
        var runtime = RuntimeSimulator(endpoint: Endpoint(Self.racer), service: "Racer", handler: "afterStep")
        runtime.closeInputAfterReplay = true
        let journal =
            Self.timers + [
                try .run("step", id: 3), try .sleepCompletion(2), try .sleepCompletion(1),
                try .runCompletion(3, json: "1"),
            ]
        let sent = try await runtime.attempt(input: "", journal: journal)
        #expect(sent.outputJSON == "\"1 b\"")
    }

    @Test("a race with nothing completed suspends on every candidate")
    func raceSuspends() async throws {
        var runtime = RuntimeSimulator(endpoint: Endpoint(Self.racer), service: "Racer", handler: "timers")
        runtime.closeInputAfterReplay = true
        let sent = try await runtime.attempt(input: "")
        #expect(sent.types == [.sleep, .sleep, .suspension])
        let suspension = try sent[2].decode(PBSuspensionMessageV6.self)
        #expect(suspension.waitingCompletions.sorted() == [1, 2])
        #expect(suspension.waitingSignals == [1])
    }

    static let collector = Service("Collector")
        .handler("all") { (ctx: Context, _: NoInput) in
            let a = try ctx.awakeable(of: Int.self).future
            let b = try ctx.awakeable(of: Int.self).future
            return try await ctx.all([a, b])
        }
        .handler("pair") { (ctx: Context, _: NoInput) in
            let a = try ctx.awakeable(of: Int.self).future
            let b = try ctx.awakeable(of: String.self).future
            let (number, text) = try await ctx.all(a, b)
            return "\(number) \(text)"
        }
        .handler("any") { (ctx: Context, _: NoInput) in
            let a = try ctx.awakeable(of: Int.self).future
            let b = try ctx.awakeable(of: Int.self).future
            return try await ctx.any(a, b)
        }

    @Test("all returns every value in argument order")
    func all() async throws {
        var runtime = RuntimeSimulator(endpoint: Endpoint(Self.collector), service: "Collector", handler: "all")
        runtime.closeInputAfterReplay = true
        let sent = try await runtime.attempt(
            input: "",
            journal: [try .signal(18, json: "2"), try .signal(17, json: "1")]
        )
        #expect(sent.outputJSON == "[1,2]")
    }

    @Test("all throws the first failure without waiting for the others")
    func allFailsFast() async throws {
        var runtime = RuntimeSimulator(endpoint: Endpoint(Self.collector), service: "Collector", handler: "all")
        runtime.closeInputAfterReplay = true
        let sent = try await runtime.attempt(input: "", journal: [try .signalFailure(18, code: 400, message: "bad")])
        #expect(sent.types == [.output, .end])
        #expect(sent.outputFailure?.code == 400)
    }

    @Test("all waits for the missing values: it suspends on what is still pending")
    func allSuspends() async throws {
        var runtime = RuntimeSimulator(endpoint: Endpoint(Self.collector), service: "Collector", handler: "all")
        runtime.closeInputAfterReplay = true
        let sent = try await runtime.attempt(input: "", journal: [try .signal(17, json: "1")])
        #expect(sent.types == [.suspension])
        #expect(try sent[0].decode(PBSuspensionMessageV6.self).waitingSignals == [1, 18])
    }

    @Test("all over futures of different types returns a tuple")
    func heterogeneousAll() async throws {
        var runtime = RuntimeSimulator(endpoint: Endpoint(Self.collector), service: "Collector", handler: "pair")
        runtime.closeInputAfterReplay = true
        let sent = try await runtime.attempt(
            input: "",
            journal: [try .signal(18, json: "\"x\""), try .signal(17, json: "4")]
        )
        #expect(sent.outputJSON == "\"4 x\"")
    }

    @Test("any skips failures and returns the first success")
    func any() async throws {
        var runtime = RuntimeSimulator(endpoint: Endpoint(Self.collector), service: "Collector", handler: "any")
        runtime.closeInputAfterReplay = true
        let sent = try await runtime.attempt(
            input: "",
            journal: [try .signalFailure(17, code: 500, message: "x"), try .signal(18, json: "9")]
        )
        #expect(sent.outputJSON == "9")
        let allFailed = try await runtime.attempt(
            input: "",
            journal: [try .signalFailure(17, code: 501, message: "x"), try .signalFailure(18, code: 502, message: "y")]
        )
        #expect(allFailed.outputFailure?.code == 502)
    }

    static let patient = Service("Patient").handler("wait") { (ctx: Context, _: NoInput) in
        let (_, future) = try ctx.awakeable(of: Int.self)
        do {
            return "got \(try await future.value(timeout: .seconds(5)))"
        } catch let error as TerminalError where error.code == 408 {
            return "timed out"
        }
    }

    @Test("value(timeout:) journals a timer and throws 408 when it fires first")
    func timeout() async throws {
        var runtime = RuntimeSimulator(endpoint: Endpoint(Self.patient), service: "Patient", handler: "wait")
        runtime.closeInputAfterReplay = true
        let fired = try await runtime.attempt(
            input: "",
            journal: [try .sleep(id: 1, name: "timeout"), try .sleepCompletion(1)]
        )
        #expect(fired.outputJSON == "\"timed out\"")

        let before = nowMilliseconds()
        let waiting = try await runtime.attempt(input: "")
        #expect(waiting.types == [.sleep, .suspension])
        #expect(try waiting[0].decode(PBSleepCommandMessage.self).wakeUpTime >= before + 5_000)
        let suspension = try waiting[1].decode(PBSuspensionMessageV6.self)
        #expect(suspension.waitingCompletions == [1] && suspension.waitingSignals == [1, 17])

        let value = try await runtime.attempt(input: "", journal: [try .signal(17, json: "3")])
        #expect(value.types == [.sleep, .output, .end])
        #expect(value.outputJSON == "\"got 3\"")
    }

    @Test("step futures journal their RunCommand when created and run their bodies beside the handler")
    func runFutures() async throws {
        let counter = StepCounter()
        let service = Service("Parallel").handler("go") { (ctx: Context, _: NoInput) in
            let a = try ctx.runFuture("a") {
                counter.hit("a")
                return 1
            }
            let b = try ctx.runFuture("b") {
                counter.hit("b")
                return 2
            }
            let values = try await ctx.all([a, b])
            return values.reduce(0, +)
        }
        let runtime = RuntimeSimulator(endpoint: Endpoint(service), service: "Parallel", handler: "go")
        let sent = try await runtime.attempt(input: "")
        #expect(Array(sent.types.prefix(2)) == [.run, .run])
        #expect(sent.types.filter { $0 == .proposeRunCompletion }.count == 2)
        #expect(sent.outputJSON == "3")
        #expect(counter.count("a") == 1 && counter.count("b") == 1)
    }

    @Test("in request/response mode a step future's body finishes before the attempt suspends")
    func runFutureBeforeSuspension() async throws {
        let service = Service("Parallel").handler("go") { (ctx: Context, _: NoInput) in
            let a = try ctx.runFuture("a") {
                try await Task.sleep(for: .milliseconds(50))
                return 1
            }
            let b = try ctx.timer(for: .seconds(60)).map { 0 }
            return try await ctx.race(a, b)
        }
        var runtime = RuntimeSimulator(endpoint: Endpoint(service), service: "Parallel", handler: "go")
        runtime.closeInputAfterReplay = true
        let sent = try await runtime.attempt(input: "")
        #expect(sent.types == [.run, .sleep, .proposeRunCompletion, .suspension])
        #expect(try sent[3].decode(PBSuspensionMessageV6.self).waitingCompletions.sorted() == [1, 2])
    }

    @Test("now() is a journaled step: a replay returns the stored instant")
    func now() async throws {
        let service = Service("Clock").handler("now") { (ctx: Context, _: NoInput) in
            Int64(try await ctx.now().timeIntervalSince1970)
        }
        let runtime = RuntimeSimulator(endpoint: Endpoint(service), service: "Clock", handler: "now")
        let sent = try await runtime.attempt(
            input: "",
            journal: [try .run("now", id: 1), try .runCompletion(1, json: "1700000000000")]
        )
        #expect(sent.outputJSON == "1700000000")
    }
}
