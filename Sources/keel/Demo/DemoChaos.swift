import Foundation
import Keel

/// The services of the randomized crash test (`Tests/KeelIntegrationTests/ChaosTests.swift`), modelled on
/// Restate's verification interpreter: three layers of virtual objects, `ChaosL0`, `ChaosL1` and `ChaosL2`,
/// whose exclusive handler `interpret` runs a small program (JSON) of commands, and `ChaosResolver`, a
/// service that resolves an awakeable for them.
///
/// A program adds to its object's counter (directly, through a `ctx.run` step, or with the value an
/// awakeable is resolved with), sleeps, and calls, sends or delayed-sends sub-programs to keys of the next
/// layer (L0 → L1 → L2, so calls never wait in a cycle). Every invocation also counts itself in the
/// object's `runs`. A client that knows the programs it submitted knows every counter's final value and
/// every object's number of invocations: a step, call or send run twice, or lost, changes one of them.
///
/// `interpret` returns ``ChaosOutcome``: the sum it added (its own increments and those of the calls it
/// awaited) and the invocation ids of the invocations it started, in program order, so the client can
/// attach to every one of them.
extension DemoServices {
    static let chaosLayers = 3

    static var chaos: [any ServiceDefinitionConvertible] {
        (0..<chaosLayers).map { chaosLayer($0) as any ServiceDefinitionConvertible } + [chaosResolver]
    }

    /// A program: commands run in order by `ChaosL{n}/{key}/interpret`.
    struct ChaosProgram: Codable, Sendable {
        var commands: [ChaosCommand]
    }

    /// One command. JSON: `{"increment":{"by":3}}`, `{"sleep":{"ms":5}}`,
    /// `{"call":{"key":"k1","program":{"commands":[…]}}}`, …
    enum ChaosCommand: Codable, Sendable {
        /// Adds `by` to the counter (checked: an overflow is a terminal 400).
        case increment(by: Int)
        /// A `ctx.run` step that returns `value`; the counter adds the step's (journaled) result.
        case step(value: Int)
        /// Calls `interpret` on `key` of the next layer and waits for it; adds the callee's sum to this one's.
        case call(key: String, program: ChaosProgram)
        /// A one-way send of `program` to `key` of the next layer.
        case send(key: String, program: ChaosProgram)
        /// A one-way send run after `delayMs`.
        case delayedSend(key: String, delayMs: Int, program: ChaosProgram)
        /// A durable sleep.
        case sleep(ms: Int)
        /// Creates an awakeable, sends its id to `ChaosResolver/resolve` (which sleeps `resolverSleepMs`, then
        /// resolves it with `value`), waits for it, and adds the value it was resolved with.
        case awakeable(value: Int, resolverSleepMs: Int)
    }

    /// What `interpret` returns.
    struct ChaosOutcome: Codable, Sendable {
        /// The sum of this invocation's increments, including those of the calls it awaited.
        var sum: Int
        /// The invocation ids of the calls, sends and resolvers this invocation started, in program order.
        var children: [String]
    }

    /// What the shared `get` returns.
    struct ChaosCounter: Codable, Sendable {
        var counter: Int
        var runs: Int
    }

    struct ChaosResolution: Codable, Sendable {
        var awakeableId: String
        var value: Int
        var sleepMs: Int
    }

    static let chaosCounter = StateKey<Int>("counter")
    static let chaosRuns = StateKey<Int>("runs")
    /// The longest sleep or send delay a program may ask for.
    static let chaosMaxDelayMs = 60_000

    static func chaosLayer(_ layer: Int) -> VirtualObject {
        VirtualObject("ChaosL\(layer)")
            .handler("interpret") { (ctx: ObjectContext, program: ChaosProgram) in
                try await interpretChaos(program, layer: layer, ctx: ctx)
            }
            .shared("get") { (ctx: ObjectSharedContext) in
                ChaosCounter(counter: try await ctx.get(chaosCounter) ?? 0, runs: try await ctx.get(chaosRuns) ?? 0)
            }
    }

    static let chaosResolver = Service("ChaosResolver")
        .handler("resolve") { (ctx: Context, resolution: ChaosResolution) in
            let sleep = try chaosDuration(ms: resolution.sleepMs)
            if resolution.sleepMs > 0 { try await ctx.sleep(for: sleep) }
            try ctx.resolveAwakeable(resolution.awakeableId, with: resolution.value)
            return resolution.value
        }

    private static func interpretChaos(
        _ program: ChaosProgram,
        layer: Int,
        ctx: ObjectContext
    ) async throws -> ChaosOutcome {
        try ctx.set(chaosRuns, try checkedAdd(try await ctx.get(chaosRuns) ?? 0, 1))
        var counter = try await ctx.get(chaosCounter) ?? 0
        var outcome = ChaosOutcome(sum: 0, children: [])
        func add(_ value: Int) throws {
            counter = try checkedAdd(counter, value)
            outcome.sum = try checkedAdd(outcome.sum, value)
            try ctx.set(chaosCounter, counter)
        }
        for (index, command) in program.commands.enumerated() {
            switch command {
            case .increment(let by):
                try add(by)
            case .step(let value):
                try add(try await ctx.run("step-\(index)") { value })
            case .call(let key, let callee):
                let call = try ctx.call(
                    service: try nextChaosLayer(after: layer),
                    handler: "interpret",
                    key: key,
                    input: callee,
                    as: ChaosOutcome.self
                )
                outcome.children.append(try await call.invocationID)
                let result = try await call.value
                outcome.sum = try checkedAdd(outcome.sum, result.sum)
            case .send(let key, let callee):
                let sent = try ctx.send(
                    service: try nextChaosLayer(after: layer),
                    handler: "interpret",
                    key: key,
                    input: callee
                )
                outcome.children.append(try await sent.value)
            case .delayedSend(let key, let delayMs, let callee):
                let sent = try ctx.send(
                    service: try nextChaosLayer(after: layer),
                    handler: "interpret",
                    key: key,
                    input: callee,
                    delay: try chaosDuration(ms: delayMs)
                )
                outcome.children.append(try await sent.value)
            case .sleep(let ms):
                try await ctx.sleep(for: try chaosDuration(ms: ms))
            case .awakeable(let value, let resolverSleepMs):
                let (id, awakeable) = try ctx.awakeable(of: Int.self)
                let resolver = try ctx.send(
                    service: "ChaosResolver",
                    handler: "resolve",
                    input: ChaosResolution(awakeableId: id, value: value, sleepMs: resolverSleepMs)
                )
                outcome.children.append(try await resolver.value)
                try add(try await awakeable.value)
            }
        }
        return outcome
    }

    private static func nextChaosLayer(after layer: Int) throws -> String {
        guard layer + 1 < chaosLayers else {
            throw TerminalError("ChaosL\(layer) is the last layer: it cannot call or send to a next one", code: 400)
        }
        return "ChaosL\(layer + 1)"
    }

    private static func chaosDuration(ms: Int) throws -> Duration {
        guard (0...chaosMaxDelayMs).contains(ms) else {
            throw TerminalError("a sleep or delay must be 0...\(chaosMaxDelayMs) ms, got \(ms)", code: 400)
        }
        return .milliseconds(ms)
    }
}
