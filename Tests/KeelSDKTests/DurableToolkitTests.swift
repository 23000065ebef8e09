import Foundation
import KeelProtocol
import SwiftProtobuf
import Testing

@testable import Keel

private func nowMilliseconds() -> UInt64 {
    UInt64((Date().timeIntervalSince1970 * 1000).rounded())
}

private struct Boom: Error, CustomStringConvertible {
    var description: String { "boom" }
}

// MARK: - Timers

@Suite("Durable timers")
struct TimerTests {
    static let sleeper = Service("Sleeper")
        .handler("nap") { (ctx: Context, seconds: Int) in
            try await ctx.sleep(for: .seconds(seconds))
            return "rested"
        }

    @Test("sleep emits SleepCommand with an absolute wake-up time and suspends on its completion and CANCEL")
    func sleepSuspends() async throws {
        var runtime = RuntimeSimulator(endpoint: Endpoint(Self.sleeper), service: "Sleeper", handler: "nap")
        runtime.closeInputAfterReplay = true
        let before = nowMilliseconds()
        let sent = try await runtime.attempt(input: "60")
        let after = nowMilliseconds()
        #expect(sent.types == [.sleep, .suspension])
        let sleep = try sent[0].decode(PBSleepCommandMessage.self)
        #expect(sleep.resultCompletionID == 1)
        #expect(sleep.wakeUpTime >= before + 60_000 && sleep.wakeUpTime <= after + 60_000)
        let suspension = try sent[1].decode(PBSuspensionMessageV6.self)
        #expect(suspension.waitingCompletions == [1])
        #expect(suspension.waitingSignals == [1])
    }

    @Test("a negative duration wakes up now")
    func negativeSleep() async throws {
        var runtime = RuntimeSimulator(endpoint: Endpoint(Self.sleeper), service: "Sleeper", handler: "nap")
        runtime.closeInputAfterReplay = true
        let before = nowMilliseconds()
        let sent = try await runtime.attempt(input: "-5")
        let sleep = try sent[0].decode(PBSleepCommandMessage.self)
        #expect(sleep.wakeUpTime >= before && sleep.wakeUpTime <= nowMilliseconds())
    }

    @Test("sleep replays from a stored SleepCompletion without a new command")
    func sleepReplays() async throws {
        var runtime = RuntimeSimulator(endpoint: Endpoint(Self.sleeper), service: "Sleeper", handler: "nap")
        runtime.closeInputAfterReplay = true
        let sent = try await runtime.attempt(
            input: "60",
            journal: [try .sleep(id: 1, wakeUpTime: 123), try .sleepCompletion(1)]
        )
        #expect(sent.types == [.output, .end])
        #expect(sent.outputJSON == "\"rested\"")
    }

    @Test("a stored sleep is matched even though the wake-up time differs; a stored run in its place is a mismatch")
    func sleepMismatch() async throws {
        let runtime = RuntimeSimulator(endpoint: Endpoint(Self.sleeper), service: "Sleeper", handler: "nap")
        let sent = try await runtime.attempt(input: "60", journal: [try .run("nap", id: 1)])
        #expect(sent.types == [.error])
        #expect(try sent[0].decode(PBErrorMessage.self).code == 570)
    }
}

// MARK: - Calls and sends

@Suite("Calls and sends")
struct CallTests {
    static let caller = Service("Caller")
        .handler("go") { (ctx: Context, n: Int) in
            let call = try ctx.call(service: "Doubler", handler: "double", input: n, as: Int.self)
            let id = try await call.invocationID
            let value = try await call.value
            return "\(id):\(value)"
        }
        .handler("send") { (ctx: Context, delayed: Bool) in
            try ctx.send(
                service: "Mailer",
                handler: "mail",
                key: "bob",
                input: "hi",
                delay: delayed ? .seconds(30) : nil
            )
            return "sent"
        }

    static func answeringCalls(
        with answer: @escaping @Sendable (PBCallCommandMessage) throws -> Frame
    ) -> @Sendable (Frame) throws -> [Frame] {
        { frame in
            guard frame.messageType == .call else { return [] }
            let call = try frame.decode(PBCallCommandMessage.self)
            return [try .callInvocationID(call.invocationIDNotificationIdx, "inv_callee"), try answer(call)]
        }
    }

    @Test(
        "call emits CallCommand with the invocation-id completion first, then the result completion, and decodes the result"
    )
    func call() async throws {
        var runtime = RuntimeSimulator(endpoint: Endpoint(Self.caller), service: "Caller", handler: "go")
        runtime.respond = Self.answeringCalls { try .callCompletion($0.resultCompletionID, json: "42") }
        let sent = try await runtime.attempt(input: "21")
        #expect(sent.types == [.call, .output, .end])
        let call = try sent[0].decode(PBCallCommandMessage.self)
        #expect(call.serviceName == "Doubler" && call.handlerName == "double" && call.key.isEmpty)
        #expect(call.parameter == Data("21".utf8))
        #expect(call.invocationIDNotificationIdx == 1 && call.resultCompletionID == 2)
        #expect(!call.hasIdempotencyKey)
        #expect(sent.outputJSON == "\"inv_callee:42\"")
    }

    @Test("a terminal failure of the callee is thrown as a TerminalError")
    func callFailure() async throws {
        var runtime = RuntimeSimulator(endpoint: Endpoint(Self.caller), service: "Caller", handler: "go")
        runtime.respond = Self.answeringCalls {
            try .callFailure($0.resultCompletionID, code: 402, message: "declined")
        }
        let sent = try await runtime.attempt(input: "21")
        #expect(sent.types == [.call, .output, .end])
        #expect(sent.outputFailure?.code == 402)
        #expect(sent.outputFailure?.message == "declined")
    }

    @Test("with the input closed, awaiting the result suspends on the result completion only")
    func callSuspends() async throws {
        let service = Service("Caller").handler("go") { (ctx: Context, n: Int) in
            try await ctx.call(service: "Doubler", handler: "double", input: n, as: Int.self).value
        }
        var runtime = RuntimeSimulator(endpoint: Endpoint(service), service: "Caller", handler: "go")
        runtime.closeInputAfterReplay = true
        let sent = try await runtime.attempt(input: "21")
        #expect(sent.types == [.call, .suspension])
        let suspension = try sent[1].decode(PBSuspensionMessageV6.self)
        #expect(suspension.waitingCompletions == [2])
        #expect(suspension.waitingSignals == [1])
    }

    @Test("a replayed call returns the stored result")
    func callReplays() async throws {
        var runtime = RuntimeSimulator(endpoint: Endpoint(Self.caller), service: "Caller", handler: "go")
        runtime.closeInputAfterReplay = true
        let journal = [
            try Frame.call("Doubler", "double", json: "21", ids: (1, 2)),
            try Frame.callInvocationID(1, "inv_stored"),
            try Frame.callCompletion(2, json: "7"),
        ]
        let sent = try await runtime.attempt(input: "21", journal: journal)
        #expect(sent.types == [.output, .end])
        #expect(sent.outputJSON == "\"inv_stored:7\"")
    }

    @Test("a replayed call to another target fails with 570 journal mismatch")
    func callMismatch() async throws {
        let runtime = RuntimeSimulator(endpoint: Endpoint(Self.caller), service: "Caller", handler: "go")
        let sent = try await runtime.attempt(
            input: "21",
            journal: [try .call("Tripler", "triple", json: "21", ids: (1, 2))]
        )
        #expect(sent.types == [.error])
        let error = try sent[0].decode(PBErrorMessage.self)
        #expect(error.code == 570)
        #expect(error.message.contains("Tripler/triple") && error.message.contains("Doubler/double"))
    }

    @Test("a replayed call with another input fails with 570")
    func callInputMismatch() async throws {
        let runtime = RuntimeSimulator(endpoint: Endpoint(Self.caller), service: "Caller", handler: "go")
        let sent = try await runtime.attempt(
            input: "21",
            journal: [try .call("Doubler", "double", json: "20", ids: (1, 2))]
        )
        #expect(try sent.last?.decode(PBErrorMessage.self).code == 570)
    }

    @Test("send emits OneWayCall with one completion id; a delay sets invoke_time")
    func sendWithDelay() async throws {
        let runtime = RuntimeSimulator(endpoint: Endpoint(Self.caller), service: "Caller", handler: "send")
        let before = nowMilliseconds()
        let sent = try await runtime.attempt(input: "true")
        let after = nowMilliseconds()
        #expect(sent.types == [.oneWayCall, .output, .end])
        let send = try sent[0].decode(PBOneWayCallCommandMessage.self)
        #expect(send.serviceName == "Mailer" && send.handlerName == "mail" && send.key == "bob")
        #expect(send.parameter == Data("\"hi\"".utf8))
        #expect(send.invocationIDNotificationIdx == 1)
        #expect(send.invokeTime >= before + 30_000 && send.invokeTime <= after + 30_000)

        let immediate = try await runtime.attempt(input: "false")
        #expect(try immediate[0].decode(PBOneWayCallCommandMessage.self).invokeTime == 0)
    }

    @Test("idempotency keys and headers go on the call and are compared on replay")
    func callOptions() async throws {
        let service = Service("Caller").handler("go") { (ctx: Context, _: NoInput) in
            try await ctx.call(
                service: "S",
                handler: "h",
                input: 1,
                as: Int.self,
                idempotencyKey: "once",
                headers: ["b": "2", "a": "1"]
            ).value
        }
        var runtime = RuntimeSimulator(endpoint: Endpoint(service), service: "Caller", handler: "go")
        runtime.respond = Self.answeringCalls { try .callCompletion($0.resultCompletionID, json: "1") }
        let sent = try await runtime.attempt(input: "")
        let call = try sent[0].decode(PBCallCommandMessage.self)
        #expect(call.idempotencyKey == "once")
        #expect(call.headers.map(\.key) == ["a", "b"])

        let replay = try await runtime.attempt(input: "", journal: [try .call("S", "h", json: "1", ids: (1, 2))])
        #expect(try replay.last?.decode(PBErrorMessage.self).code == 570)
    }
}

// MARK: - Typed clients

struct Order: Codable, Sendable, Equatable {
    var id: String
}

struct Receipt: Codable, Sendable, Equatable {
    var orderID: String
    var charged: Bool
}

enum Payments: ServiceContract {
    static let process = Handler<Order, Receipt>("process")
    static let ping = Handler<Void, String>("ping")
}

enum ShoppingCart: VirtualObjectContract {
    static let serviceName = "Cart"
    static let addItem = Handler<String, Int>("addItem")
    static let clear = Handler<Void, Void>("clear")
}

enum Approval: WorkflowContract {
    static let run = Handler<String, Bool>("run")
    static let approve = Handler<Bool, Void>("approve")
}

@Suite("Typed clients")
struct TypedClientTests {
    @Test("typed clients emit the same commands as untyped calls, with contract names and JSON payloads")
    func typedCalls() async throws {
        let shop = Service("Shop").handler("buy") { (ctx: Context, id: String) in
            let receipt = try await ctx.service(Payments.self).process(Order(id: id))
            try ctx.object(ShoppingCart.self, key: "c1").send(delay: .seconds(5)).addItem("socks")
            try ctx.object(ShoppingCart.self, key: "c1").clear.send()
            let pending = try ctx.workflow(Approval.self, key: id).run.future("please")
            let approved = try await pending.value
            return "\(receipt.orderID) \(receipt.charged) \(approved)"
        }
        var runtime = RuntimeSimulator(endpoint: Endpoint(shop), service: "Shop", handler: "buy")
        runtime.respond = { frame in
            switch frame.messageType {
            case .call:
                let call = try frame.decode(PBCallCommandMessage.self)
                let answer = call.serviceName == "Payments" ? #"{"charged":true,"orderID":"o1"}"# : "true"
                return [
                    try .callInvocationID(call.invocationIDNotificationIdx, "inv_x"),
                    try .callCompletion(call.resultCompletionID, json: answer),
                ]
            case .oneWayCall:
                let send = try frame.decode(PBOneWayCallCommandMessage.self)
                return [try .callInvocationID(send.invocationIDNotificationIdx, "inv_y")]
            default:
                return []
            }
        }
        let sent = try await runtime.attempt(input: "\"o1\"")
        #expect(sent.types == [.call, .oneWayCall, .oneWayCall, .call, .output, .end])
        let process = try sent[0].decode(PBCallCommandMessage.self)
        #expect(process.serviceName == "Payments" && process.handlerName == "process")
        #expect(process.parameter == Data(#"{"id":"o1"}"#.utf8))
        let add = try sent[1].decode(PBOneWayCallCommandMessage.self)
        #expect(add.serviceName == "Cart" && add.key == "c1" && add.handlerName == "addItem" && add.invokeTime > 0)
        let clear = try sent[2].decode(PBOneWayCallCommandMessage.self)
        #expect(clear.handlerName == "clear" && clear.parameter.isEmpty && clear.invokeTime == 0)
        let run = try sent[3].decode(PBCallCommandMessage.self)
        #expect(run.serviceName == "Approval" && run.key == "o1" && run.handlerName == "run")
        #expect(run.invocationIDNotificationIdx == 5 && run.resultCompletionID == 6)
        #expect(sent.outputJSON == "\"o1 true true\"")
    }

    @Test("contracts also declare the handlers a service implements")
    func implementContract() {
        let payments = Service(Payments.self)
            .handler(Payments.process) { (_: Context, order: Order) in Receipt(orderID: order.id, charged: true) }
            .handler(Payments.ping) { (_: Context) in "pong" }
        let cart = VirtualObject(ShoppingCart.self).handler(ShoppingCart.addItem) { (_: ObjectContext, _: String) in 1 }
        let approval = Workflow(Approval.self)
            .run(Approval.run) { (_: WorkflowContext, _: String) in true }
            .shared(Approval.approve) { (_: WorkflowSharedContext, _: Bool) in }
        let manifest = Endpoint(payments, cart, approval).manifest
        #expect(manifest.services.map(\.name).sorted() == ["Approval", "Cart", "Payments"])
        let workflow = manifest.services.first { $0.name == "Approval" }
        #expect(workflow?.ty == .workflow)
        #expect(workflow?.handlers.map(\.name) == ["run", "approve"])
        #expect(workflow?.handlers.map(\.ty) == [.workflow, .shared])
    }
}

// MARK: - Awakeables and signals

@Suite("Awakeables")
struct AwakeableTests {
    static let waiter = Service("Waiter").handler("wait") { (ctx: Context, _: NoInput) in
        let (id, future) = try ctx.awakeable(of: String.self)
        let value = try await future.value
        return "\(id)|\(value)"
    }

    @Test("the awakeable id is sign_1 + base64url(invocation id ‖ u32 index 17) and a SignalNotification completes it")
    func resolution() async throws {
        var runtime = RuntimeSimulator(endpoint: Endpoint(Self.waiter), service: "Waiter", handler: "wait")
        runtime.closeInputAfterReplay = true
        let sent = try await runtime.attempt(input: "", journal: [try .signal(17, json: "\"hello\"")])
        #expect(sent.types == [.output, .end])
        let expected = AwakeableID(invocationID: RuntimeSimulator.id, signalIndex: 17).description
        #expect(expected.hasPrefix("sign_1") && expected.count == 44)
        #expect(sent.outputJSON == "\"\(expected)|hello\"")
        #expect(AwakeableID(expected)?.signalIndex == 17)
    }

    @Test("awaiting an awakeable is not journaled and suspends on its signal index")
    func suspends() async throws {
        var runtime = RuntimeSimulator(endpoint: Endpoint(Self.waiter), service: "Waiter", handler: "wait")
        runtime.closeInputAfterReplay = true
        let sent = try await runtime.attempt(input: "")
        #expect(sent.types == [.suspension])
        let suspension = try sent[0].decode(PBSuspensionMessageV6.self)
        #expect(suspension.waitingCompletions.isEmpty)
        #expect(suspension.waitingSignals == [1, 17])
    }

    @Test("a rejected awakeable throws a TerminalError")
    func rejection() async throws {
        let runtime = RuntimeSimulator(endpoint: Endpoint(Self.waiter), service: "Waiter", handler: "wait")
        let sent = try await runtime.attempt(input: "", journal: [try .signalFailure(17, code: 418, message: "teapot")])
        #expect(sent.outputFailure?.code == 418)
        #expect(sent.outputFailure?.message == "teapot")
    }

    @Test("resolveAwakeable and rejectAwakeable emit CompleteAwakeableCommand with a value or a failure")
    func completeAwakeable() async throws {
        let service = Service("Completer").handler("go") { (ctx: Context, _: NoInput) in
            try ctx.resolveAwakeable("sign_1abc", with: 5)
            try ctx.rejectAwakeable("sign_1def", "nope", code: 400)
            return "done"
        }
        let runtime = RuntimeSimulator(endpoint: Endpoint(service), service: "Completer", handler: "go")
        let sent = try await runtime.attempt(input: "")
        #expect(sent.types == [.completeAwakeable, .completeAwakeable, .output, .end])
        let resolved = try sent[0].decode(PBCompleteAwakeableCommandMessage.self)
        #expect(resolved.awakeableID == "sign_1abc" && resolved.value.content == Data("5".utf8))
        let rejected = try sent[1].decode(PBCompleteAwakeableCommandMessage.self)
        #expect(
            rejected.awakeableID == "sign_1def" && rejected.failure.code == 400 && rejected.failure.message == "nope"
        )

        let replay = try await runtime.attempt(
            input: "",
            journal: [
                try Frame(
                    type: .completeAwakeable,
                    message: PBCompleteAwakeableCommandMessage.with {
                        $0.awakeableID = "sign_1abc"
                        $0.value = PBValue.with { $0.content = Data("6".utf8) }
                    }
                )
            ]
        )
        #expect(try replay.last?.decode(PBErrorMessage.self).code == 570)
    }

    @Test("named signals complete on a SignalNotification with a name; resolveSignal sends one")
    func namedSignals() async throws {
        let service = Service("Signals").handler("go") { (ctx: Context, _: NoInput) in
            try ctx.resolveSignal(invocationID: "inv_other", "go", with: true)
            return try await ctx.signal("ready", as: Int.self).value
        }
        let runtime = RuntimeSimulator(endpoint: Endpoint(service), service: "Signals", handler: "go")
        let journal = [
            try Frame(
                type: .signal,
                message: PBSignalNotificationMessage.with {
                    $0.name = "ready"
                    $0.value = PBValue.with { $0.content = Data("3".utf8) }
                }
            )
        ]
        let sent = try await runtime.attempt(input: "", journal: journal)
        #expect(sent.types == [.sendSignal, .output, .end])
        let signal = try sent[0].decode(PBSendSignalCommandMessage.self)
        #expect(
            signal.targetInvocationID == "inv_other" && signal.name == "go" && signal.value.content == Data("true".utf8)
        )
        #expect(sent.outputJSON == "3")
    }
}

extension AwakeableTests {
    @Test("waiting for a named signal suspends listing its name")
    func namedSignalSuspends() async throws {
        let service = Service("Signals").handler("wait") { (ctx: Context, _: NoInput) in
            try await ctx.signal("ready", as: Int.self).value
        }
        var runtime = RuntimeSimulator(endpoint: Endpoint(service), service: "Signals", handler: "wait")
        runtime.closeInputAfterReplay = true
        let sent = try await runtime.attempt(input: "")
        #expect(sent.types == [.suspension])
        let suspension = try sent[0].decode(PBSuspensionMessageV6.self)
        #expect(
            suspension.waitingNamedSignals == ["ready"] && suspension.waitingSignals == [1]
                && suspension.waitingCompletions.isEmpty
        )
    }
}

// MARK: - Workflows and promises

@Suite("Workflows and durable promises")
struct PromiseTests {
    static let approval = Workflow("Approval")
        .run { (ctx: WorkflowContext, _: NoInput) in
            let peeked = try await ctx.promise("approval", as: Bool.self).peek()
            let approved = try await ctx.promise("approval", as: Bool.self).value
            try ctx.set("approved", approved)
            return "\(peeked.map { "\($0)" } ?? "pending") \(approved)"
        }
        .shared("approve") { (ctx: WorkflowSharedContext, approved: Bool) in
            try await ctx.promise("approval", as: Bool.self).resolve(approved)
            return "resolved"
        }
        .shared("deny") { (ctx: WorkflowSharedContext, reason: String) in
            try await ctx.promise("approval", as: Bool.self).reject(reason, code: 403)
            return "denied"
        }

    static func notification(
        _ type: MessageType,
        _ id: UInt32,
        json: String? = nil,
        failure: (UInt32, String)? = nil
    ) throws -> Frame {
        var template = PBNotificationTemplate()
        template.completionID = id
        if let json {
            template.value = PBValue.with { $0.content = Data(json.utf8) }
        } else if let failure {
            template.failure = PBFailure.with {
                $0.code = failure.0
                $0.message = failure.1
            }
        } else {
            template.void = PBVoid()
        }
        return try Frame(type: type, message: template)
    }

    @Test("peek emits PeekPromise (void = pending), value emits GetPromise and waits for its value")
    func getAndPeek() async throws {
        var runtime = RuntimeSimulator(endpoint: Endpoint(Self.approval), service: "Approval", handler: "run")
        runtime.key = "wf-1"
        runtime.respond = { frame in
            switch frame.messageType {
            case .peekPromise:
                let peek = try frame.decode(PBPeekPromiseCommandMessage.self)
                return [try Self.notification(.peekPromiseCompletion, peek.resultCompletionID)]
            case .getPromise:
                let get = try frame.decode(PBGetPromiseCommandMessage.self)
                return [try Self.notification(.getPromiseCompletion, get.resultCompletionID, json: "true")]
            default:
                return []
            }
        }
        let sent = try await runtime.attempt(input: "")
        #expect(sent.types == [.peekPromise, .getPromise, .setState, .output, .end])
        #expect(try sent[0].decode(PBPeekPromiseCommandMessage.self).key == "approval")
        #expect(try sent[1].decode(PBGetPromiseCommandMessage.self).resultCompletionID == 2)
        #expect(sent.outputJSON == "\"pending true\"")
    }

    @Test("with the input closed, a pending promise suspends the run handler")
    func promiseSuspends() async throws {
        var runtime = RuntimeSimulator(endpoint: Endpoint(Self.approval), service: "Approval", handler: "run")
        runtime.key = "wf-1"
        runtime.closeInputAfterReplay = true
        let journal = [
            try Frame(
                type: .peekPromise,
                message: PBPeekPromiseCommandMessage.with {
                    $0.key = "approval"
                    $0.resultCompletionID = 1
                }
            ),
            try Self.notification(.peekPromiseCompletion, 1, json: "false"),
        ]
        let sent = try await runtime.attempt(input: "", journal: journal)
        #expect(sent.types == [.getPromise, .suspension])
        #expect(try sent[1].decode(PBSuspensionMessageV6.self).waitingCompletions == [2])
    }

    @Test("resolve emits CompletePromise with the value; an already completed promise throws 409")
    func resolve() async throws {
        var runtime = RuntimeSimulator(endpoint: Endpoint(Self.approval), service: "Approval", handler: "approve")
        runtime.key = "wf-1"
        runtime.respond = { frame in
            guard frame.messageType == .completePromise else { return [] }
            return [
                try Self.notification(
                    .completePromiseCompletion,
                    try frame.decode(PBCompletePromiseCommandMessage.self).resultCompletionID
                )
            ]
        }
        let sent = try await runtime.attempt(input: "true")
        #expect(sent.types == [.completePromise, .output, .end])
        let complete = try sent[0].decode(PBCompletePromiseCommandMessage.self)
        #expect(complete.key == "approval" && complete.completionValue.content == Data("true".utf8))
        #expect(sent.outputJSON == "\"resolved\"")

        runtime.respond = { frame in
            guard frame.messageType == .completePromise else { return [] }
            let id = try frame.decode(PBCompletePromiseCommandMessage.self).resultCompletionID
            return [
                try Self.notification(.completePromiseCompletion, id, failure: (409, "promise was already completed"))
            ]
        }
        let again = try await runtime.attempt(input: "true")
        #expect(again.outputFailure?.code == 409)
    }

    @Test("reject emits CompletePromise with a failure")
    func reject() async throws {
        var runtime = RuntimeSimulator(endpoint: Endpoint(Self.approval), service: "Approval", handler: "deny")
        runtime.key = "wf-1"
        runtime.closeInputAfterReplay = true
        let sent = try await runtime.attempt(input: "\"no budget\"")
        #expect(sent.types == [.completePromise, .suspension])
        let complete = try sent[0].decode(PBCompletePromiseCommandMessage.self)
        #expect(complete.completionFailure.code == 403 && complete.completionFailure.message == "no budget")
    }
}

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

// MARK: - Cancellation

@Suite("Implicit cancellation")
struct CancellationTests {
    static let parent = Service("Parent")
        .handler("go") { (ctx: Context, _: NoInput) in
            let child = try ctx.call(service: "Child", handler: "work", input: 1, as: Int.self)
            try ctx.send(service: "Child", handler: "log", input: 2)
            return try await child.value
        }
        .handler("catching") { (ctx: Context, _: NoInput) in
            let child = try ctx.call(service: "Child", handler: "work", input: 1, as: Int.self)
            do {
                return "\(try await child.value)"
            } catch let error as TerminalError where error.code == 409 {
                let after: Int = try await ctx.run("after") { 5 }
                return "cancelled, then \(after)"
            }
        }

    static let childJournal = [
        (try? Frame.call("Child", "work", json: "1", ids: (1, 2))),
        (try? Frame(
            type: .oneWayCall,
            message: PBOneWayCallCommandMessage.with {
                $0.serviceName = "Child"
                $0.handlerName = "log"
                $0.parameter = Data("2".utf8)
                $0.invocationIDNotificationIdx = 3
            }
        )),
        (try? Frame.callInvocationID(1, "inv_child")),
        (try? Frame.callInvocationID(3, "inv_logger")),
    ].compactMap { $0 }

    @Test("CANCEL makes the await send SendSignal(CANCEL) to each child call (not sends), then throw 409")
    func cancelChildren() async throws {
        var runtime = RuntimeSimulator(endpoint: Endpoint(Self.parent), service: "Parent", handler: "go")
        runtime.closeInputAfterReplay = true
        let sent = try await runtime.attempt(input: "", journal: Self.childJournal + [Frame.cancel])
        #expect(sent.types == [.sendSignal, .output, .end])
        let signal = try sent[0].decode(PBSendSignalCommandMessage.self)
        #expect(signal.targetInvocationID == "inv_child")
        #expect(signal.idx == 1)
        #expect(signal.void == PBVoid())
        #expect(sent.outputFailure?.code == 409)
        #expect(sent.outputFailure?.message == "cancelled")
    }

    @Test("a replay checks the stored SendSignal")
    func cancelReplays() async throws {
        var runtime = RuntimeSimulator(endpoint: Endpoint(Self.parent), service: "Parent", handler: "go")
        runtime.closeInputAfterReplay = true
        let stored = try Frame(
            type: .sendSignal,
            message: PBSendSignalCommandMessage.with {
                $0.targetInvocationID = "inv_child"
                $0.idx = 1
                $0.void = PBVoid()
            }
        )
        let sent = try await runtime.attempt(input: "", journal: Self.childJournal + [Frame.cancel, stored])
        #expect(sent.types == [.output, .end])
        #expect(sent.outputFailure?.code == 409)
    }

    @Test("the child's invocation id is awaited first when it is not known yet")
    func waitsForChildID() async throws {
        var runtime = RuntimeSimulator(endpoint: Endpoint(Self.parent), service: "Parent", handler: "go")
        runtime.closeInputAfterReplay = true
        let journal = [Self.childJournal[0], Self.childJournal[1], Frame.cancel]
        let sent = try await runtime.attempt(input: "", journal: journal)
        #expect(sent.types == [.suspension])
        #expect(try sent[0].decode(PBSuspensionMessageV6.self).waitingCompletions == [1])
    }

    @Test("handler code may catch the cancellation and go on: later awaits are not cancelled again")
    func catchAndContinue() async throws {
        let runtime = RuntimeSimulator(endpoint: Endpoint(Self.parent), service: "Parent", handler: "catching")
        let journal = [Self.childJournal[0], Self.childJournal[2], Frame.cancel]
        let sent = try await runtime.attempt(input: "", journal: journal)
        #expect(sent.types == [.sendSignal, .run, .proposeRunCompletion, .output, .end])
        #expect(sent.outputJSON == "\"cancelled, then 5\"")
    }

    @Test("a CANCEL stored after a step's result is seen by the next await, as in the first execution")
    func cancelOrder() async throws {
        let service = Service("Ordered").handler("go") { (ctx: Context, _: NoInput) in
            let step: Int = try await ctx.run("step") { 1 }
            do {
                try await ctx.sleep(for: .seconds(10))
                return "slept"
            } catch let error as TerminalError where error.code == 409 {
                return "cancelled after \(step)"
            }
        }
        var runtime = RuntimeSimulator(endpoint: Endpoint(service), service: "Ordered", handler: "go")
        runtime.closeInputAfterReplay = true
        let sent = try await runtime.attempt(
            input: "",
            journal: [try .run("step", id: 1), try .runCompletion(1, json: "1"), Frame.cancel]
        )
        #expect(sent.types == [.sleep, .output, .end])
        #expect(sent.outputJSON == "\"cancelled after 1\"")
    }

    @Test("ctx.cancel(invocationID:) sends the CANCEL signal")
    func explicitCancel() async throws {
        let service = Service("Canceller").handler("go") { (ctx: Context, id: String) in
            try ctx.cancel(invocationID: id)
            return "ok"
        }
        let sent = try await RuntimeSimulator(endpoint: Endpoint(service), service: "Canceller", handler: "go").attempt(
            input: "\"inv_target\""
        )
        let signal = try sent[0].decode(PBSendSignalCommandMessage.self)
        #expect(signal.targetInvocationID == "inv_target" && signal.idx == 1)
    }
}

// MARK: - Sagas

@Suite("Sagas")
struct SagaTests {
    static func trip(_ counter: StepCounter) -> Service {
        Service("Trip")
            .handler("book") { (ctx: Context, _: NoInput) -> String in
                try await ctx.saga { (saga: Saga) async throws -> String in
                    saga.onRollback("cancel-flight") { counter.hit("cancel-flight") }
                    try await ctx.run("book-flight") { counter.hit("book-flight") }
                    saga.onRollback("cancel-hotel") { counter.hit("cancel-hotel") }
                    try await ctx.run("book-hotel") { counter.hit("book-hotel") }
                    throw TerminalError("payment declined", code: 402)
                }
            }
            .handler("wait") { (ctx: Context, _: NoInput) -> String in
                try await ctx.saga { (saga: Saga) async throws -> String in
                    saga.onRollback("undo") { counter.hit("undo") }
                    try await ctx.run("do") { counter.hit("do") }
                    try await ctx.sleep(for: .seconds(60))
                    return "done"
                }
            }
    }

    @Test("a terminal failure runs the compensations in reverse order, each as a step, then rethrows")
    func compensates() async throws {
        let counter = StepCounter()
        let runtime = RuntimeSimulator(endpoint: Endpoint(Self.trip(counter)), service: "Trip", handler: "book")
        let sent = try await runtime.attempt(input: "")
        let names = try sent.decoded(.run, as: PBRunCommandMessage.self).map(\.name)
        #expect(names == ["book-flight", "book-hotel", "cancel-hotel", "cancel-flight"])
        #expect(sent.outputFailure?.code == 402)
        for step in ["book-flight", "book-hotel", "cancel-hotel", "cancel-flight"] {
            #expect(counter.count(step) == 1)
        }
    }

    @Test("on replay, completed compensations are not run again")
    func replay() async throws {
        let counter = StepCounter()
        let runtime = RuntimeSimulator(endpoint: Endpoint(Self.trip(counter)), service: "Trip", handler: "book")
        let journal = [
            try Frame.run("book-flight", id: 1), try .runCompletion(1, json: "{}"),
            try .run("book-hotel", id: 2), try .runCompletion(2, json: "{}"),
            try .run("cancel-hotel", id: 3), try .runCompletion(3, json: "{}"),
        ]
        let sent = try await runtime.attempt(input: "", journal: journal)
        #expect(try sent.decoded(.run, as: PBRunCommandMessage.self).map(\.name) == ["cancel-flight"])
        #expect(counter.count("cancel-hotel") == 0 && counter.count("book-flight") == 0)
        #expect(counter.count("cancel-flight") == 1)
        #expect(sent.outputFailure?.code == 402)
    }

    @Test("a cancellation (409) also compensates")
    func cancellationCompensates() async throws {
        let counter = StepCounter()
        let runtime = RuntimeSimulator(endpoint: Endpoint(Self.trip(counter)), service: "Trip", handler: "wait")
        let journal = [try Frame.run("do", id: 1), try .runCompletion(1, json: "{}"), try .sleep(id: 2), Frame.cancel]
        let sent = try await runtime.attempt(input: "", journal: journal)
        #expect(try sent.decoded(.run, as: PBRunCommandMessage.self).map(\.name) == ["undo"])
        #expect(counter.count("undo") == 1 && counter.count("do") == 0)
        #expect(sent.outputFailure?.code == 409)
    }

    @Test("a suspension does not compensate")
    func suspensionDoesNotCompensate() async throws {
        let counter = StepCounter()
        var runtime = RuntimeSimulator(endpoint: Endpoint(Self.trip(counter)), service: "Trip", handler: "wait")
        runtime.closeInputAfterReplay = true
        let sent = try await runtime.attempt(
            input: "",
            journal: [try Frame.run("do", id: 1), try .runCompletion(1, json: "{}")]
        )
        #expect(sent.types == [.sleep, .suspension])
        #expect(counter.count("undo") == 0)
    }
}

// MARK: - Run retries

@Suite("Run retry policies")
struct RunRetryTests {
    static func flaky(_ policy: RunRetryPolicy) -> Service {
        Service("Flaky").handler("go") { (ctx: Context, _: NoInput) -> Int in
            try await ctx.run("flaky-step", retry: policy) { () async throws -> Int in throw Boom() }
        }
    }

    @Test("a retryable failure fails the attempt with the policy's delay and the step's command index")
    func retries() async throws {
        let runtime = RuntimeSimulator(
            endpoint: Endpoint(Self.flaky(.exponential(maxAttempts: 3, initialDelay: .milliseconds(100)))),
            service: "Flaky",
            handler: "go"
        )
        let sent = try await runtime.attempt(input: "")
        #expect(sent.types == [.run, .error])
        let error = try sent[1].decode(PBErrorMessage.self)
        #expect(error.nextRetryDelay == 100)
        #expect(error.relatedCommandIndex == 1)
        #expect(error.relatedCommandName == "flaky-step")
        #expect(error.message.contains("boom"))
    }

    @Test("later tries back off by the factor, using the runtime's retry count for the stored step")
    func backsOff() async throws {
        var runtime = RuntimeSimulator(
            endpoint: Endpoint(Self.flaky(.exponential(maxAttempts: 5, initialDelay: .milliseconds(100), factor: 2))),
            service: "Flaky",
            handler: "go"
        )
        runtime.retryCount = 2
        let sent = try await runtime.attempt(input: "", journal: [try .run("flaky-step", id: 1)])
        #expect(sent.types == [.error])
        #expect(try sent[0].decode(PBErrorMessage.self).nextRetryDelay == 400)
    }

    @Test("once the attempts are exhausted the step is journaled as a terminal failure naming the step and error")
    func exhausted() async throws {
        var runtime = RuntimeSimulator(
            endpoint: Endpoint(Self.flaky(RunRetryPolicy(maxAttempts: 3))),
            service: "Flaky",
            handler: "go"
        )
        runtime.retryCount = 2
        let sent = try await runtime.attempt(input: "", journal: [try .run("flaky-step", id: 1)])
        #expect(sent.types == [.proposeRunCompletion, .output, .end])
        let proposal = try sent[0].decode(PBProposeRunCompletionMessage.self)
        #expect(proposal.failure.code == 500)
        #expect(proposal.failure.message.contains("flaky-step") && proposal.failure.message.contains("boom"))
        #expect(sent.outputFailure?.code == 500)
    }

    @Test("maxDuration also exhausts the policy")
    func durationExhausted() async throws {
        var runtime = RuntimeSimulator(
            endpoint: Endpoint(Self.flaky(RunRetryPolicy(maxDuration: .seconds(5)))),
            service: "Flaky",
            handler: "go"
        )
        runtime.retryCount = 1
        runtime.durationSinceLastStoredEntryMs = 10_000
        let sent = try await runtime.attempt(input: "", journal: [try .run("flaky-step", id: 1)])
        #expect(sent.types == [.proposeRunCompletion, .output, .end])
    }

    @Test("a step written in this attempt starts counting at one, whatever the StartMessage says")
    func newStepCountsFromOne() async throws {
        var runtime = RuntimeSimulator(
            endpoint: Endpoint(Self.flaky(RunRetryPolicy(maxAttempts: 2))),
            service: "Flaky",
            handler: "go"
        )
        runtime.retryCount = 5
        let sent = try await runtime.attempt(input: "")
        #expect(sent.types == [.run, .error])
    }

    @Test("the policy's delays grow by the factor up to maxDelay")
    func delays() {
        let policy = RunRetryPolicy(initialDelay: .milliseconds(100), factor: 3, maxDelay: .seconds(1))
        #expect(policy.nextDelay(attempts: 1, elapsed: .zero) == .milliseconds(100))
        #expect(policy.nextDelay(attempts: 2, elapsed: .zero) == .milliseconds(300))
        #expect(policy.nextDelay(attempts: 3, elapsed: .zero) == .milliseconds(900))
        #expect(policy.nextDelay(attempts: 4, elapsed: .zero) == .seconds(1))
        #expect(RunRetryPolicy.none.nextDelay(attempts: 1, elapsed: .zero) == nil)
    }
}

// MARK: - Attach and output

@Suite("Attach and invocation output")
struct AttachTests {
    static let watcher = Service("Watcher")
        .handler("attach") { (ctx: Context, id: String) in
            try await ctx.attach(.invocation(id), as: Int.self).value
        }
        .handler("output") { (ctx: Context, _: NoInput) in
            let output = try await ctx.invocationOutput(.workflow(name: "Approval", key: "k"), as: Int.self).value
            return output.map { "done \($0)" } ?? "running"
        }

    static func completion(_ type: MessageType, _ id: UInt32, json: String?) throws -> Frame {
        var template = PBNotificationTemplate()
        template.completionID = id
        if let json { template.value = PBValue.with { $0.content = Data(json.utf8) } } else { template.void = PBVoid() }
        return try Frame(type: type, message: template)
    }

    @Test("attach emits AttachInvocationCommand for the target and returns its result")
    func attach() async throws {
        var runtime = RuntimeSimulator(endpoint: Endpoint(Self.watcher), service: "Watcher", handler: "attach")
        runtime.respond = { frame in
            guard frame.messageType == .attachInvocation else { return [] }
            return [
                try Self.completion(
                    .attachInvocationCompletion,
                    try frame.decode(PBAttachInvocationCommandMessage.self).resultCompletionID,
                    json: "11"
                )
            ]
        }
        let sent = try await runtime.attempt(input: "\"inv_target\"")
        #expect(sent.types == [.attachInvocation, .output, .end])
        #expect(try sent[0].decode(PBAttachInvocationCommandMessage.self).invocationID == "inv_target")
        #expect(sent.outputJSON == "11")

        let stored = try Frame(
            type: .attachInvocation,
            message: PBAttachInvocationCommandMessage.with {
                $0.invocationID = "inv_other"
                $0.resultCompletionID = 1
            }
        )
        let mismatch = try await runtime.attempt(input: "\"inv_target\"", journal: [stored])
        #expect(try mismatch.last?.decode(PBErrorMessage.self).code == 570)
    }

    @Test("invocationOutput emits GetInvocationOutputCommand; void means still running")
    func output() async throws {
        var runtime = RuntimeSimulator(endpoint: Endpoint(Self.watcher), service: "Watcher", handler: "output")
        runtime.respond = { frame in
            guard frame.messageType == .getInvocationOutput else { return [] }
            return [
                try Self.completion(
                    .getInvocationOutputCompletion,
                    try frame.decode(PBGetInvocationOutputCommandMessage.self).resultCompletionID,
                    json: nil
                )
            ]
        }
        let sent = try await runtime.attempt(input: "")
        #expect(sent.types == [.getInvocationOutput, .output, .end])
        let command = try sent[0].decode(PBGetInvocationOutputCommandMessage.self)
        #expect(command.workflowTarget.workflowName == "Approval" && command.workflowTarget.workflowKey == "k")
        #expect(sent.outputJSON == "\"running\"")

        runtime.respond = { frame in
            guard frame.messageType == .getInvocationOutput else { return [] }
            return [
                try Self.completion(
                    .getInvocationOutputCompletion,
                    try frame.decode(PBGetInvocationOutputCommandMessage.self).resultCompletionID,
                    json: "4"
                )
            ]
        }
        #expect(try await runtime.attempt(input: "").outputJSON == "\"done 4\"")
    }
}

// MARK: - The forms docs/sdk.md shows

@Suite("Documented API forms")
struct DocumentedFormsTests {
    @Test("the examples of docs/sdk.md compile as written")
    func examplesCompile() {
        let service = Service("Docs").handler("all") { (ctx: Context, item: String) in
            try await ctx.saga { saga in
                saga.onRollback("undo") {}
                try await ctx.run("do") {}
            }
            try await ctx.object(ShoppingCart.self, key: "k").clear()
            try ctx.object(ShoppingCart.self, key: "k").addItem.send(item)
            let client = ctx.service(Payments.self).idempotencyKey("o1").headers(["x-tenant": "a"])
            let receipt = try await client.process(Order(id: "o1"))
            let pong = try await ctx.service(Payments.self).ping()
            let f1 = try ctx.timer(for: .seconds(1)).map { 1 }
            let f2 = try ctx.runFuture("two") { 2 }
            let settled = try await ctx.allSettled([f1, f2])
            let doubled = try await f2.map { $0 * 2 }.value(timeout: .seconds(5))
            let call = try ctx.call(service: "S", handler: "h", input: 1, as: Int.self)
            let calleeID = try await call.invocationID
            try ctx.cancel(invocationID: calleeID)
            let output = try await ctx.invocationOutput(
                .idempotentRequest(service: "S", key: nil, handler: "h", idempotencyKey: "i"),
                as: Int.self
            ).value
            return "\(receipt.orderID) \(pong) \(settled.count) \(doubled) \(output ?? 0)"
        }
        let workflow = Workflow("DocsFlow").run { (ctx: WorkflowContext) in
            let promise = ctx.promise("p", as: Int.self)
            let future = try promise.future()
            return try await ctx.race(future, try ctx.timer(for: .seconds(1)).map { 0 })
        }
        #expect(Endpoint(service, workflow).manifest.services.count == 2)
    }
}
