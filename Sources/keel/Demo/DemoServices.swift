import Foundation
import Keel
import Synchronization

/// The example services `keel serve --demo` binds.
enum DemoServices {
    static func endpoint(dataDirectory: String) -> Endpoint {
        let log = SideEffectLog(path: dataDirectory + "/demo-side-effects.log")
        // `Trap` crashes the process on purpose: bound only when asked for, to show (and test) the quarantine.
        let traps: [any ServiceDefinitionConvertible] =
            ProcessInfo.processInfo.environment["KEEL_DEMO_TRAPS"] == "1" ? [trap(log: log)] : []
        return Endpoint(
            [greeter, counter, cart, bench, recorder(log: log), stamp(log: log)] + toolkit(log: log) + chaos + traps
        )
    }

    /// Adds with a terminal 400 on overflow: input must never trap a handler.
    static func checkedAdd(_ total: Int, _ delta: Int) throws -> Int {
        let (sum, overflow) = total.addingReportingOverflow(delta)
        guard !overflow else { throw TerminalError("adding \(delta) to \(total) overflows", code: 400) }
        return sum
    }

    static let greeter = Service("Greeter")
        .handler("greet") { (_: Context, name: String) in
            "Hello, \(name)!"
        }

    static let count = StateKey<Int>("count")

    static let counter = VirtualObject("Counter")
        .handler("add") { (ctx: ObjectContext, delta: Int) in
            let total = try checkedAdd(try await ctx.get(count) ?? 0, delta)
            try ctx.set(count, total)
            return total
        }
        .shared("get") { (ctx: ObjectSharedContext) in
            try await ctx.get(count) ?? 0
        }
        .handler("reset") { (ctx: ObjectContext) in
            try ctx.clear(count)
            return 0
        }

    struct CartItem: Codable, Sendable {
        var productId: String
        var quantity: Int
        var price: Double?
    }

    static let items = StateKey<[CartItem]>("items")

    static let cart = VirtualObject("Cart")
        .handler("addItem") { (ctx: ObjectContext, item: CartItem) in
            guard item.quantity > 0 else {
                throw TerminalError("quantity must be positive, got \(item.quantity)", code: 400)
            }
            var current = try await ctx.get(items) ?? []
            current.append(item)
            try ctx.set(items, current)
            return current.count
        }
        .shared("getItems") { (ctx: ObjectSharedContext) in
            try await ctx.get(items) ?? []
        }

    struct BenchInput: Codable, Sendable {
        var steps: Int
    }

    /// `Bench/run {"steps": N}`: N journaled no-op steps, returns N. The unit of Keel's benchmarks.
    /// `Bench/fanout {"calls": C, "sends": S}`: calls and sends to virtual objects (see ``fanout(ctx:input:)``).
    static let bench = Service("Bench")
        .handler("run") { (ctx: Context, input: BenchInput) in
            for step in 0..<max(input.steps, 0) {
                try await ctx.run("step-\(step)") { step }
            }
            return input.steps
        }
        .handler("fanout") { (ctx: Context, input: FanoutInput) in
            try await fanout(ctx: ctx, input: input)
        }

    struct FanoutInput: Codable, Sendable {
        var calls: Int
        var sends: Int
        /// How many `Counter` keys the calls and sends spread over; ``fanoutDefaultKeys`` when absent.
        var keys: Int?
    }

    /// At most this many calls, and as many sends, per `Bench/fanout`: a benchmark's unit of work, not a way
    /// for one request to flood the server.
    static let fanoutMaxTargets = 64
    static let fanoutMaxKeys = 1_000_000
    /// 256 keys: 16 callers of `{"calls":2,"sends":2}` keep some 64 adds in flight (more while sends queue
    /// up), so an add finds its key busy (locked, or with adds in its inbox) now and then, not most of the time.
    static let fanoutDefaultKeys = 256

    /// `Bench/fanout {"calls": C, "sends": S, "keys": K?}`: starts C request-response calls of `Counter/add 1`
    /// at once, then S one-way sends of the same, each on its own key `bench-{n}`, and waits for the C
    /// results; returns C + S. The C + S keys are consecutive (mod K) from a start drawn from `ctx.random`,
    /// so they follow from the invocation (the same on replay) and spread over K keys. Calls and sends
    /// share the keys: adds that sends queue up delay the calls behind them in the key's inbox, so the
    /// closed-loop callers slow down with the backlog instead of letting it grow without bound.
    static func fanout(ctx: Context, input: FanoutInput) async throws -> Int {
        let range = 0...fanoutMaxTargets
        guard range.contains(input.calls), range.contains(input.sends) else {
            throw TerminalError(
                "calls and sends must each be in \(range), got \(input.calls) and \(input.sends)",
                code: 400
            )
        }
        // At most 2 × fanoutMaxTargets: no overflow.
        let targets = input.calls + input.sends
        let keys = input.keys ?? fanoutDefaultKeys
        guard keys >= max(targets, 1), keys <= fanoutMaxKeys else {
            throw TerminalError(
                "keys must be in \(max(targets, 1))...\(fanoutMaxKeys) (at least calls + sends), got \(keys)",
                code: 400
            )
        }
        var random = ctx.random
        let start = Int.random(in: 0..<keys, using: &random)
        // start < keys ≤ fanoutMaxKeys and offset < targets: the sum cannot overflow.
        let counters = (0..<targets).map { offset in
            ctx.object(CounterContract.self, key: "bench-\((start + offset) % keys)")
        }
        let calls = try counters.prefix(input.calls).map { try $0.add.future(1).result }
        for counter in counters.dropFirst(input.calls) {
            try counter.add.send(1)
        }
        _ = try await ctx.all(calls)
        return targets
    }

    struct RecordInput: Codable, Sendable {
        var label: String
        var steps: Int
        var delayMs: Int?
    }

    static let recorded = StateKey<Int>("recorded")

    struct StampInput: Codable, Sendable {
        var label: String?
        /// When the request was sent (epoch ms, the sender's clock).
        var sentAt: Int64?
    }

    /// `Stamp/record`: appends `stamp {label} {origin ms} {start ms}` to the side-effect log when its handler
    /// starts, the origin being the input's `sentAt` or the schedule tick's nominal time
    /// (`x-keel-schedule-time`). `scripts/bench/latency.sh` reads publish-to-start and tick lateness from it.
    static func stamp(log: SideEffectLog) -> Service {
        Service("Stamp").handler("record") { (ctx: Context, input: StampInput) in
            let now = Int64((Date().timeIntervalSince1970 * 1000).rounded())
            var origin = input.sentAt
            if origin == nil, let tick = ctx.request.headers["x-keel-schedule-time"] {
                let formatter = ISO8601DateFormatter()
                formatter.formatOptions = [.withInternetDateTime, .withFractionalSeconds]
                let plain = ISO8601DateFormatter()
                if let date = formatter.date(from: tick) ?? plain.date(from: tick) {
                    origin = Int64((date.timeIntervalSince1970 * 1000).rounded())
                }
            }
            try log.append("stamp \(input.label ?? "-") \(origin ?? 0) \(now)")
        }
    }

    /// `Recorder/{key}/record`: each step appends a line to a log outside the engine (a side effect), then
    /// counts it in the object's state. Used to show that completed steps never run twice across crashes.
    static func recorder(log: SideEffectLog) -> VirtualObject {
        VirtualObject("Recorder")
            .handler("record") { (ctx: ObjectContext, input: RecordInput) in
                let key = ctx.key
                for step in 0..<max(input.steps, 0) {
                    try await ctx.run("step-\(step)") {
                        try log.append("\(key) \(input.label) \(step)")
                        if let delay = input.delayMs, delay > 0 { try await Task.sleep(for: .milliseconds(delay)) }
                    }
                    try ctx.set(recorded, try checkedAdd(try await ctx.get(recorded) ?? 0, 1))
                }
                return try await ctx.get(recorded) ?? 0
            }
            .shared("count") { (ctx: ObjectSharedContext) in
                try await ctx.get(recorded) ?? 0
            }
    }
}

/// Appends lines to a file with `O_APPEND`, so concurrent writers never interleave within a line.
struct SideEffectLog: Sendable {
    let path: String

    func append(_ line: String) throws {
        let descriptor = open(path, O_WRONLY | O_APPEND | O_CREAT, 0o644)
        guard descriptor >= 0 else { throw TerminalError("cannot open \(path): errno \(errno)") }
        defer { close(descriptor) }
        let bytes = Array((line + "\n").utf8)
        let written = bytes.withUnsafeBytes { write(descriptor, $0.baseAddress, $0.count) }
        guard written == bytes.count else { throw SideEffectLogError(path: path) }
    }
}

struct SideEffectLogError: Error, CustomStringConvertible {
    var path: String
    var description: String { "short write to \(path)" }
}

/// Never set: `Trap/spin` reads it so that its loop cannot be optimised away.
private let spinStop = Atomic<Bool>(false)

extension DemoServices {
    struct TrapInput: Codable, Sendable {
        var label: String
        /// Added to Int.max without a check: any value above 0 traps the process.
        var overflowBy: Int
    }

    /// `Trap/run`: logs `trap {label}` as a side effect, then adds unchecked, which traps for `overflowBy` > 0
    /// (the kind of bug the quarantine is for). `Trap/spin`: logs `spin {label}`, then loops for ever without
    /// yielding (what no embedded handler can be stopped from doing). Bound with `KEEL_DEMO_TRAPS=1`.
    static func trap(log: SideEffectLog) -> Service {
        Service("Trap")
            .handler("run") { (ctx: Context, input: TrapInput) in
                try await ctx.run("log") { try log.append("trap \(input.label)") }
                return Int.max + input.overflowBy
            }
            .handler("spin") { (ctx: Context, input: TrapInput) in
                try await ctx.run("log") { try log.append("spin \(input.label)") }
                var spins = 0
                while !spinStop.load(ordering: .relaxed) { spins &+= 1 }
                return spins
            }
    }
}
