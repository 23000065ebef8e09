import Foundation

// The client side of the randomized crash test: the programs `ChaosL{n}/{key}/interpret` runs (the wire format
// of Sources/keel/Demo/DemoChaos.swift, declared again here on purpose: the test speaks JSON to the server), a
// seeded generator of random programs, and the model that says what every counter must end at. Pure code.

/// A program run by `ChaosL{layer}/{key}/interpret`.
struct ChaosProgram: Codable, Equatable, Sendable {
    var commands: [ChaosCommand]
}

/// One command of a program; see `DemoServices.ChaosCommand` for what the server does with it.
enum ChaosCommand: Codable, Equatable, Sendable {
    case increment(by: Int)
    case step(value: Int)
    case call(key: String, program: ChaosProgram)
    case send(key: String, program: ChaosProgram)
    case delayedSend(key: String, delayMs: Int, program: ChaosProgram)
    case sleep(ms: Int)
    case awakeable(value: Int, resolverSleepMs: Int)
}

/// What `interpret` answers: the sum it added (its calls' included) and the ids of the invocations it started.
struct ChaosOutcome: Codable, Equatable, Sendable {
    var sum: Int
    var children: [String]
}

/// What the shared `get` answers.
struct ChaosCounter: Codable, Equatable, Sendable {
    var counter: Int
    var runs: Int
}

/// One virtual object: `ChaosL{layer}/{key}`.
struct ChaosObject: Hashable, Comparable, Sendable, CustomStringConvertible {
    var layer: Int
    var key: String

    var service: String { "ChaosL\(layer)" }
    var description: String { "\(service)/\(key)" }

    static func < (lhs: ChaosObject, rhs: ChaosObject) -> Bool {
        (lhs.layer, lhs.key) < (rhs.layer, rhs.key)
    }
}

/// What one invocation must answer when attached to.
enum ChaosExpectation: Equatable, Sendable {
    /// `interpret` of `program` on `object`: a ``ChaosOutcome`` with the model's sum and children.
    case interpret(ChaosObject, ChaosProgram)
    /// `ChaosResolver/resolve`: the value it resolved the awakeable with.
    case resolve(value: Int)
}

/// The expected state of every object after a set of programs ran exactly once each.
struct ChaosModel: Equatable, Sendable {
    private(set) var counters: [ChaosObject: Int] = [:]
    private(set) var runs: [ChaosObject: Int] = [:]

    /// Accounts for one invocation of `program` on `object`, and for every invocation it starts.
    mutating func submit(_ program: ChaosProgram, to object: ChaosObject) {
        runs[object, default: 0] += 1
        for command in program.commands {
            switch command {
            case .increment(let value), .step(let value), .awakeable(let value, _):
                counters[object, default: 0] += value
            case .call(let key, let callee), .send(let key, let callee), .delayedSend(let key, _, let callee):
                submit(callee, to: ChaosObject(layer: object.layer + 1, key: key))
            case .sleep:
                break
            }
        }
    }

    /// Every object the submitted programs reached.
    var objects: [ChaosObject] { runs.keys.sorted() }

    /// The `sum` that `interpret` of `program` answers: its own increments and those of the calls it awaits.
    static func sum(of program: ChaosProgram) -> Int {
        program.commands.reduce(0) { sum, command in
            switch command {
            case .increment(let value), .step(let value), .awakeable(let value, _): sum + value
            case .call(_, let callee): sum + Self.sum(of: callee)
            case .send, .delayedSend, .sleep: sum
            }
        }
    }

    /// The invocations `interpret` of `program` on `object` starts, in the order of its `children`.
    static func children(of program: ChaosProgram, on object: ChaosObject) -> [ChaosExpectation] {
        program.commands.compactMap { command in
            switch command {
            case .call(let key, let callee), .send(let key, let callee), .delayedSend(let key, _, let callee):
                .interpret(ChaosObject(layer: object.layer + 1, key: key), callee)
            case .awakeable(let value, _):
                .resolve(value: value)
            case .increment, .step, .sleep:
                nil
            }
        }
    }
}

/// SplitMix64: a small seeded generator whose sequence does not depend on the standard library's version, so
/// a seed replays the same programs anywhere.
struct ChaosRandom: Sendable {
    private var state: UInt64

    init(seed: UInt64) { state = seed }

    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }

    /// A value in `range` (a modulo bias of at most 2^-50 for the small ranges used here).
    mutating func int(in range: ClosedRange<Int>) -> Int {
        let width = UInt64(range.upperBound - range.lowerBound) + 1
        return range.lowerBound + Int(next() % width)
    }

    /// A value in 0..<1.
    mutating func unit() -> Double {
        Double(next() >> 11) / Double(UInt64(1) << 53)
    }

    /// A generator for another purpose, independent of this one's future values.
    mutating func split() -> ChaosRandom {
        ChaosRandom(seed: next())
    }
}

/// Generates random programs for layer 0 whose calls and sends reach the next layers.
struct ChaosGenerator: Sendable {
    var random: ChaosRandom
    var layers = 3
    var keysPerLayer = 3

    init(seed: UInt64, layers: Int = 3, keysPerLayer: Int = 3) {
        random = ChaosRandom(seed: seed)
        self.layers = layers
        self.keysPerLayer = keysPerLayer
    }

    mutating func key() -> String {
        "k\(random.int(in: 0...(keysPerLayer - 1)))"
    }

    /// A program for an object of `layer`: 1–5 commands at layer 0, 1–3 below it. Only a layer with a next one
    /// gets calls and sends.
    mutating func program(layer: Int) -> ChaosProgram {
        let count = layer == 0 ? random.int(in: 1...5) : random.int(in: 1...3)
        return ChaosProgram(commands: (0..<count).map { _ in command(layer: layer) })
    }

    private mutating func command(layer: Int) -> ChaosCommand {
        let hasNext = layer + 1 < layers
        // Weights: increment 25, step 15, sleep 13, awakeable 10, and with a next layer call 12, send 12,
        // delayed send 8.
        let roll = random.int(in: 0...(hasNext ? 94 : 62))
        switch roll {
        case 0..<25: return .increment(by: random.int(in: -3...9))
        case 25..<40: return .step(value: random.int(in: 1...9))
        case 40..<53: return .sleep(ms: random.int(in: 1...20))
        case 53..<63:
            return .awakeable(
                value: random.int(in: 1...9),
                resolverSleepMs: random.int(in: 0...1) == 0 ? 0 : random.int(in: 1...10)
            )
        case 63..<75: return .call(key: key(), program: program(layer: layer + 1))
        case 75..<87: return .send(key: key(), program: program(layer: layer + 1))
        default: return .delayedSend(key: key(), delayMs: random.int(in: 5...250), program: program(layer: layer + 1))
        }
    }
}

/// The order statistic `quantile` (0...1) of `values`, nil when there are none.
func chaosQuantile(_ values: [Duration], _ quantile: Double) -> Duration? {
    guard !values.isEmpty else { return nil }
    let sorted = values.sorted()
    let rank = Int((quantile * Double(sorted.count)).rounded(.up)) - 1
    return sorted[min(max(rank, 0), sorted.count - 1)]
}
