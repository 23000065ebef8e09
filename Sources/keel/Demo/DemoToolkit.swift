import Foundation
import Keel

/// Example services that show the durable toolkit: timers, calls and sends, awakeables, a workflow with a
/// durable promise, cancellation and a saga. Each leaves its side effects in the demo's side-effect log, so
/// the tests (and a curious reader) can see what ran and how often.
extension DemoServices {
    static func toolkit(log: SideEffectLog) -> [any ServiceDefinitionConvertible] {
        [
            reminder(log: log), waiter(log: log), trip(log: log), parent(log: log), child(log: log), approval(log: log),
            scheduler, slots(log: log),
        ]
    }

    struct Labelled: Codable, Sendable {
        var label: String
        var ms: Int?
        var failAt: Int?
        var steps: Int?
    }

    // MARK: - Contracts (typed clients)

    enum ChildContract: ServiceContract {
        static let serviceName = "Child"
        static let nap = Handler<Labelled, String>("nap")
    }

    enum CounterContract: VirtualObjectContract {
        static let serviceName = "Counter"
        static let add = Handler<Int, Int>("add")
    }

    enum ApprovalContract: WorkflowContract {
        static let serviceName = "Approval"
        static let run = Handler<Labelled, String>("run")
        static let decide = Handler<String, String>("decide")
        static let status = Handler<Void, String>("status")
    }

    // MARK: - Services

    /// `Reminder/remind {"label", "ms", "steps"?}`: logs, sleeps durably (surviving restarts), logs again.
    /// `steps` journaled no-op steps first make the journal longer (used by the suspension benchmark).
    static func reminder(log: SideEffectLog) -> Service {
        Service("Reminder")
            .handler("remind") { (ctx: Context, input: Labelled) in
                for step in 0..<max(input.steps ?? 0, 0) {
                    try await ctx.run("step-\(step)") { step }
                }
                try await ctx.run("before") { try log.append("\(input.label) before") }
                try await ctx.sleep(for: .milliseconds(input.ms ?? 1000))
                try await ctx.run("after") { try log.append("\(input.label) after") }
                return "reminded"
            }
    }

    /// `Slots/hold {"label", "ms"}`: at most two run at once (`keel.concurrency`, limit 2), on a cluster too.
    /// Logs `slot {label} start {epoch ms}` once it has a slot, sleeps `ms` durably (holding the slot), and logs
    /// `slot {label} end {epoch ms}`: the cluster test reads from the nodes' logs that no three overlapped.
    static func slots(log: SideEffectLog) -> Service {
        @Sendable func now() -> Int64 { Int64((Date().timeIntervalSince1970 * 1000).rounded()) }
        return Service("Slots")
            .handler("hold") { (ctx: Context, input: Labelled) in
                try await ctx.run("start") { try log.append("slot \(input.label) start \(now())") }
                try await ctx.sleep(for: .milliseconds(input.ms ?? 100))
                try await ctx.run("end") { try log.append("slot \(input.label) end \(now())") }
                return input.label
            }
            .options(DurabilityOptions(concurrency: .init(limit: 2)), forHandler: "hold")
    }

    /// `Waiter/wait {"label"}`: publishes an awakeable id to the log and returns what it is resolved with.
    /// `Waiter/waitOrGiveUp {"label", "ms"}`: the same, but gives up after `ms` (a durable timeout).
    /// `Waiter/first {"label", "ms"}`: races two timers, `ms` and `2 × ms`, and says which fired first.
    static func waiter(log: SideEffectLog) -> Service {
        Service("Waiter")
            .handler("wait") { (ctx: Context, input: Labelled) in
                let (id, answer) = try ctx.awakeable(of: String.self)
                try await ctx.run("publish") { try log.append("\(input.label) awakeable \(id)") }
                return try await answer.value
            }
            .handler("waitOrGiveUp") { (ctx: Context, input: Labelled) in
                let (id, answer) = try ctx.awakeable(of: String.self)
                try await ctx.run("publish") { try log.append("\(input.label) awakeable \(id)") }
                do {
                    return try await answer.value(timeout: .milliseconds(input.ms ?? 1000))
                } catch let error as TerminalError where error.code == 408 {
                    return "gave up"
                }
            }
            .handler("first") { (ctx: Context, input: Labelled) in
                let ms = input.ms ?? 100
                let short = try ctx.timer(for: .milliseconds(ms)).map { "short" }
                let long = try ctx.timer(for: .milliseconds(try DemoServices.checkedAdd(ms, ms))).map { "long" }
                return try await ctx.race(long, short)
            }
    }

    /// `Trip/book {"label", "failAt"}`: a saga of three bookings; step `failAt` fails terminally and the
    /// compensations registered so far (its own included) run in reverse order, each once.
    static func trip(log: SideEffectLog) -> Service {
        Service("Trip")
            .handler("book") { (ctx: Context, input: Labelled) in
                try await ctx.saga { saga in
                    for (step, name) in ["flight", "hotel", "car"].enumerated() {
                        saga.onRollback("cancel-\(name)") { try log.append("\(input.label) cancel \(name)") }
                        try await ctx.run("book-\(name)") {
                            if step + 1 == input.failAt { throw TerminalError("no \(name) available", code: 400) }
                            try log.append("\(input.label) book \(name)")
                        }
                    }
                    return "booked"
                }
            }
    }

    /// `Parent/run {"label", "ms"}`: calls `Child/nap` (typed client) and returns its answer. Cancelling the
    /// parent cancels the child it waits for.
    static func parent(log: SideEffectLog) -> Service {
        Service("Parent")
            .handler("run") { (ctx: Context, input: Labelled) in
                do {
                    return "parent: " + (try await ctx.service(ChildContract.self).nap(input))
                } catch let error as TerminalError where error.code == 409 {
                    try await ctx.run("parent-cancelled") { try log.append("\(input.label) parent cancelled") }
                    throw error
                }
            }
    }

    static func child(log: SideEffectLog) -> Service {
        Service(ChildContract.self)
            .handler(ChildContract.nap) { (ctx: Context, input: Labelled) in
                do {
                    try await ctx.sleep(for: .milliseconds(input.ms ?? 0))
                } catch let error as TerminalError where error.code == 409 {
                    try await ctx.run("child-cancelled") { try log.append("\(input.label) child cancelled") }
                    throw error
                }
                return "child woke"
            }
            // Only Parent calls it: the ingress refuses it (400).
            .options(DurabilityOptions(ingressPrivate: true))
    }

    /// `Approval/{key}/run {"label", "ms"}`: reserves, sleeps `ms`, then waits for the "decision" promise that
    /// the shared `decide` handler resolves.
    static func approval(log: SideEffectLog) -> Workflow {
        Workflow(ApprovalContract.self)
            .run(ApprovalContract.run) { (ctx: WorkflowContext, input: Labelled) in
                try await ctx.run("reserve") { try log.append("\(input.label) reserve") }
                if let ms = input.ms, ms > 0 { try await ctx.sleep(for: .milliseconds(ms)) }
                try ctx.set(status, "waiting")
                let decision = try await ctx.promise("decision", as: String.self).value
                try ctx.set(status, "decided")
                try await ctx.run("finish") { try log.append("\(input.label) decided \(decision)") }
                return "approved: \(decision)"
            }
            .shared(ApprovalContract.decide) { (ctx: WorkflowSharedContext, decision: String) in
                try await ctx.promise("decision", as: String.self).resolve(decision)
                return "ok"
            }
            .shared(ApprovalContract.status) { (ctx: WorkflowSharedContext) in
                try await ctx.get(status) ?? "unknown"
            }
    }

    static let status = StateKey<String>("status")

    struct Schedule: Codable, Sendable {
        var key: String
        var value: Int
        var delayMs: Int
    }

    /// `Scheduler/schedule {"key", "value", "delayMs"}`: a delayed one-way send to `Counter/{key}/add`.
    static let scheduler = Service("Scheduler")
        .handler("schedule") { (ctx: Context, input: Schedule) in
            let id = try ctx.object(CounterContract.self, key: input.key).send(delay: .milliseconds(input.delayMs)).add(
                input.value
            )
            return try await id.value
        }
}
