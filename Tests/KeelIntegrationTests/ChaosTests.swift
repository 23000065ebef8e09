import AsyncHTTPClient
import Foundation
import Synchronization
import Testing

/// The randomized crash test, modelled on Restate's verification interpreter (see docs/reliability.md).
///
/// Several clients submit random programs (``ChaosGenerator``) to `ChaosL0/{key}/interpret/send` with distinct
/// idempotency keys, retrying a submission that failed with a connection error until it is answered 202 (the
/// same key makes a retry exactly-once). Meanwhile a driver kills `keel serve --demo` with SIGKILL at random
/// moments and starts it again; three kills in ten are followed by a second one shortly after the restart,
/// while the server is still recovering. After the last restart the test attaches to every
/// acknowledged invocation and, recursively, to every invocation they started (each must answer what the model
/// says), then reads every object's counter and number of runs (each must equal ``ChaosModel``'s).
///
/// Environment: `CHAOS_SECONDS` (default 60), `CHAOS_KILLS` (default 10, SIGKILLs in all), `CHAOS_SEED`
/// (default random; always printed), `CHAOS_CLIENTS` (default 4), `CHAOS_KEEP_DATA=1` (keep the data directory).
@Suite("Randomized crash test with kill -9 (chaos)", .serialized)
struct ChaosTests {
    @Test(
        "random programs over three layers of objects while keel is killed at random: counters match the model, every acknowledged invocation completes exactly once"
    )
    func chaos() async throws {
        let configuration = ChaosConfiguration.fromEnvironment()
        print(
            "chaos: seed \(configuration.seed) (replay with CHAOS_SEED=\(configuration.seed)), \(configuration.seconds) s, \(configuration.kills) kills, \(configuration.clients) clients"
        )
        let client = HTTPClient.chaosClient()
        let server = try ChaosServer()
        var failed = true
        defer { server.cleanUp(keepData: failed || configuration.keepData) }
        do {
            let report = try await ChaosRun(configuration: configuration, server: server, client: client).run()
            print(report.figures.line)
            failed = !report.problems.isEmpty
            if failed {
                Issue.record(
                    """
                    chaos run with CHAOS_SEED=\(configuration.seed) found \(report.problems.count) problem(s):
                    \(report.problems.prefix(30).joined(separator: "\n"))
                    figures: \(report.figures.line)
                    data directory: \(server.base.dataDirectory.path)
                    server log (tail):
                    \(server.logTail())
                    """
                )
            }
            #expect(report.figures.lost == 0)
            #expect(report.figures.duplicated == 0)
            #expect(report.figures.wrongObjects == 0)
            #expect(report.figures.completed == report.figures.acknowledged)
            #expect(report.figures.kills == configuration.kills)
        } catch {
            Issue.record(
                """
                chaos run with CHAOS_SEED=\(configuration.seed) failed: \(error)
                data directory: \(server.base.dataDirectory.path)
                server log (tail):
                \(server.logTail())
                """
            )
        }
        try await client.shutdown()
    }
}

@Suite("Chaos test model")
struct ChaosModelTests {
    let k0 = ChaosObject(layer: 0, key: "k0")

    @Test("the model counts increments, steps and awakeables on the object, calls and sends on the next layer's")
    func modelFollowsCallsAndSends() {
        let program = ChaosProgram(commands: [
            .increment(by: 5),
            .step(value: 3),
            .call(
                key: "k1",
                program: ChaosProgram(commands: [
                    .increment(by: 2),
                    .send(key: "k2", program: ChaosProgram(commands: [.increment(by: 1), .sleep(ms: 3)])),
                ])
            ),
            .awakeable(value: 4, resolverSleepMs: 0),
            .delayedSend(key: "k0", delayMs: 10, program: ChaosProgram(commands: [.step(value: 7)])),
            .increment(by: -1),
        ])
        var model = ChaosModel()
        model.submit(program, to: k0)
        model.submit(ChaosProgram(commands: [.sleep(ms: 1)]), to: k0)
        let l1k1 = ChaosObject(layer: 1, key: "k1")
        let l1k0 = ChaosObject(layer: 1, key: "k0")
        let l2k2 = ChaosObject(layer: 2, key: "k2")
        #expect(model.counters == [k0: 11, l1k1: 2, l2k2: 1, l1k0: 7])
        #expect(model.runs == [k0: 2, l1k1: 1, l2k2: 1, l1k0: 1])
        #expect(model.objects == [k0, l1k0, l1k1, l2k2])
        // The call's sum counts; the sends' do not (nobody waits for them).
        #expect(ChaosModel.sum(of: program) == 5 + 3 + 2 + 4 - 1)
        #expect(ChaosModel.children(of: program, on: k0).map(\.label) == ["ChaosL1/k1", "resolve 4", "ChaosL1/k0"])
    }

    @Test("a seed gives the same programs; the last layer never calls or sends; every command kind appears")
    func generatorIsSeeded() {
        var first = ChaosGenerator(seed: 42)
        var second = ChaosGenerator(seed: 42)
        var other = ChaosGenerator(seed: 43)
        let programs = (0..<500).map { _ in first.program(layer: 0) }
        #expect(programs == (0..<500).map { _ in second.program(layer: 0) })
        #expect(programs != (0..<500).map { _ in other.program(layer: 0) })
        var kinds: Set<String> = []
        func visit(_ program: ChaosProgram, layer: Int) {
            #expect(layer < 3)
            for command in program.commands {
                kinds.insert(command.kind)
                switch command {
                case .call(_, let callee), .send(_, let callee), .delayedSend(_, _, let callee):
                    visit(callee, layer: layer + 1)
                default: break
                }
            }
        }
        for program in programs { visit(program, layer: 0) }
        #expect(kinds == ["increment", "step", "call", "send", "delayedSend", "sleep", "awakeable"])
    }

    @Test("the wire format is the demo's: one key per command, named fields")
    func wireFormat() throws {
        let program = ChaosProgram(commands: [
            .increment(by: 3), .delayedSend(key: "k1", delayMs: 5, program: ChaosProgram(commands: [.sleep(ms: 2)])),
        ])
        let encoder = JSONEncoder()
        encoder.outputFormatting = .sortedKeys
        let json = String(decoding: try encoder.encode(program), as: UTF8.self)
        #expect(
            json
                == #"{"commands":[{"increment":{"by":3}},{"delayedSend":{"delayMs":5,"key":"k1","program":{"commands":[{"sleep":{"ms":2}}]}}}]}"#
        )
        #expect(try JSONDecoder().decode(ChaosProgram.self, from: Data(json.utf8)) == program)
    }

    @Test("quantiles are order statistics")
    func quantiles() {
        let values: [Duration] = (1...100).map { .milliseconds($0) }
        #expect(chaosQuantile(values, 0.99) == .milliseconds(99))
        #expect(chaosQuantile(values, 1) == .milliseconds(100))
        #expect(chaosQuantile([.seconds(1)], 0.99) == .seconds(1))
        #expect(chaosQuantile([], 0.5) == nil)
    }
}

extension ChaosCommand {
    var kind: String {
        switch self {
        case .increment: "increment"
        case .step: "step"
        case .call: "call"
        case .send: "send"
        case .delayedSend: "delayedSend"
        case .sleep: "sleep"
        case .awakeable: "awakeable"
        }
    }
}

extension ChaosExpectation {
    var label: String {
        switch self {
        case .interpret(let object, _): object.description
        case .resolve(let value): "resolve \(value)"
        }
    }
}

// MARK: - The run

struct ChaosConfiguration: Sendable {
    var seconds: Double
    var kills: Int
    var seed: UInt64
    var clients: Int
    var keepData: Bool

    static func fromEnvironment() -> ChaosConfiguration {
        let environment = ProcessInfo.processInfo.environment
        return ChaosConfiguration(
            seconds: environment["CHAOS_SECONDS"].flatMap(Double.init).map { max($0, 1) } ?? 60,
            kills: environment["CHAOS_KILLS"].flatMap(Int.init).map { max($0, 0) } ?? 10,
            seed: environment["CHAOS_SEED"].flatMap { UInt64($0) } ?? UInt64.random(in: 0...UInt64.max),
            clients: environment["CHAOS_CLIENTS"].flatMap(Int.init).map { max($0, 1) } ?? 4,
            keepData: environment["CHAOS_KEEP_DATA"] == "1"
        )
    }
}

struct ChaosFigures: Sendable {
    var seed: UInt64 = 0
    var kills = 0
    var recoveryKills = 0
    var recoveryKillsAfterHealth = 0
    var acknowledged = 0
    var completed = 0
    var invocations = 0
    var invocationsCompleted = 0
    var lost = 0
    var duplicated = 0
    var wrongObjects = 0
    var retriedSubmissions = 0
    var previouslyAccepted = 0
    var serverErrors = 0
    var restarts: [Duration] = []
    var chaosSeconds: Double = 0
    var drainSeconds: Double = 0

    var line: String {
        func seconds(_ duration: Duration?) -> String {
            guard let duration else { return "-" }
            return String(
                format: "%.3fs",
                Double(duration.components.seconds) + Double(duration.components.attoseconds) / 1e18
            )
        }
        return
            "chaos figures: seed=\(seed) kills=\(kills) recovery-kills=\(recoveryKills) (after health \(recoveryKillsAfterHealth))"
            + " acknowledged=\(acknowledged) completed=\(completed) invocations=\(invocationsCompleted)/\(invocations)"
            + " lost=\(lost) duplicated=\(duplicated) wrong-objects=\(wrongObjects)"
            + " retried-submissions=\(retriedSubmissions) previously-accepted=\(previouslyAccepted) server-errors=\(serverErrors)"
            + " restarts=\(restarts.count) slowest-restart=\(seconds(restarts.max())) p99-restart=\(seconds(chaosQuantile(restarts, 0.99)))"
            + " p50-restart=\(seconds(chaosQuantile(restarts, 0.5)))"
            + String(format: " chaos=%.1fs drain=%.1fs", chaosSeconds, drainSeconds)
    }
}

struct ChaosReport: Sendable {
    var figures: ChaosFigures
    var problems: [String]
}

struct ChaosFailure: Error, CustomStringConvertible {
    var description: String
    init(_ description: String) { self.description = description }
}

/// Set once, read by every client.
final class ChaosFlag: Sendable {
    private let value = Mutex(false)
    func set() { value.withLock { $0 = true } }
    var isSet: Bool { value.withLock { $0 } }
}

/// What the clients saw: the acknowledged submissions, retries, and anything unexpected.
actor ChaosLedger {
    struct Submission: Sendable {
        var id: String
        var object: ChaosObject
        var program: ChaosProgram
    }

    private(set) var submissions: [Submission] = []
    private(set) var retried = 0
    private(set) var previouslyAccepted = 0
    private(set) var serverErrors = 0
    private(set) var problems: [String] = []

    func acknowledged(_ submission: Submission, attempts: Int, previously: Bool) {
        submissions.append(submission)
        if attempts > 1 { retried += 1 }
        if previously { previouslyAccepted += 1 }
    }

    func serverError(_ description: String) {
        serverErrors += 1
        if serverErrors <= 5 { problems.append("a submission was answered \(description) (retried)") }
    }

    func problem(_ description: String) {
        problems.append(description)
    }
}

struct ChaosRun: Sendable {
    let configuration: ChaosConfiguration
    let server: ChaosServer
    let client: HTTPClient
    /// Keys per layer: few, so that exclusive calls queue on every key.
    let keysPerLayer = 3

    func run() async throws -> ChaosReport {
        var figures = ChaosFigures()
        figures.seed = configuration.seed
        var problems: [String] = []
        try server.spawn()
        _ = try await server.waitUntilHealthy(client: client)

        let ledger = ChaosLedger()
        let stop = ChaosFlag()
        let abort = ChaosFlag()
        var seeds = ChaosRandom(seed: configuration.seed)
        let clientSeeds = (0..<configuration.clients).map { _ in seeds.next() }
        let driverRandom = seeds.split()
        let started = ContinuousClock.now
        let driverResult: Result<ChaosFigures, any Error> = await withTaskGroup(of: Void.self) { group in
            for (index, seed) in clientSeeds.enumerated() {
                group.addTask {
                    await submitPrograms(client: index, seed: seed, stop: stop, abort: abort, ledger: ledger)
                }
            }
            let result: Result<ChaosFigures, any Error>
            do {
                result = .success(try await drive(random: driverRandom, started: started))
            } catch {
                result = .failure(error)
                abort.set()
            }
            stop.set()
            await group.waitForAll()
            return result
        }
        figures = try driverResult.get()
        figures.seed = configuration.seed
        figures.chaosSeconds = (ContinuousClock.now - started).seconds

        let submissions = await ledger.submissions
        problems += await ledger.problems
        figures.acknowledged = submissions.count
        figures.retriedSubmissions = await ledger.retried
        figures.previouslyAccepted = await ledger.previouslyAccepted
        figures.serverErrors = await ledger.serverErrors
        if let status = server.exitedByItself {
            problems.append("keel exited by itself with status \(status) after the last restart")
        }

        let drainStarted = ContinuousClock.now
        var model = ChaosModel()
        for submission in submissions { model.submit(submission.program, to: submission.object) }
        let attached = await attachAll(submissions)
        figures.invocations = attached.expected
        figures.invocationsCompleted = attached.completed
        figures.completed = attached.topLevelCompleted
        figures.lost = attached.expected - attached.completed
        problems += attached.problems

        let objects = Set(model.objects).union(
            (0..<3).flatMap { layer in (0..<keysPerLayer).map { ChaosObject(layer: layer, key: "k\($0)") } }
        )
        for object in objects.sorted() {
            let expected = ChaosCounter(counter: model.counters[object] ?? 0, runs: model.runs[object] ?? 0)
            do {
                let answer = try await client.chaosRequest(
                    .GET,
                    "\(server.ingress)/\(object.service)/\(object.key)/get",
                    timeout: .seconds(30)
                )
                let counter = try JSONDecoder().decode(ChaosCounter.self, from: answer.body)
                if counter.runs > expected.runs { figures.duplicated += counter.runs - expected.runs }
                if counter != expected {
                    figures.wrongObjects += 1
                    problems.append(
                        "\(object): counter \(counter.counter) runs \(counter.runs), the model says counter \(expected.counter) runs \(expected.runs)"
                    )
                }
            } catch {
                figures.wrongObjects += 1
                problems.append("\(object): reading its counter failed: \(error)")
            }
        }
        figures.drainSeconds = (ContinuousClock.now - drainStarted).seconds
        return ChaosReport(figures: figures, problems: problems)
    }

    // MARK: Clients

    /// One client: submits random programs to layer 0 until `stop`, each with its own idempotency key, one at a
    /// time with short pauses, and now and then a burst of 8–24 at once (so that kills find exclusive calls
    /// queued on every key).
    private func submitPrograms(
        client index: Int,
        seed: UInt64,
        stop: ChaosFlag,
        abort: ChaosFlag,
        ledger: ChaosLedger
    ) async {
        var generator = ChaosGenerator(seed: seed, keysPerLayer: keysPerLayer)
        var pauses = ChaosRandom(seed: seed ^ 0x5DEE_CE66_D1CE_4E5B)
        var number = 0
        while !stop.isSet {
            let size = pauses.int(in: 0...24) == 0 ? pauses.int(in: 8...24) : 1
            let batch = (0..<size).map { _ in
                defer { number += 1 }
                return (
                    object: ChaosObject(layer: 0, key: generator.key()), program: generator.program(layer: 0),
                    idempotencyKey: "chaos-\(configuration.seed)-\(index)-\(number)", jitter: pauses.next()
                )
            }
            do {
                try await withThrowingTaskGroup(of: Void.self) { group in
                    for item in batch {
                        group.addTask {
                            try await submit(
                                item.program,
                                to: item.object,
                                idempotencyKey: item.idempotencyKey,
                                jitter: item.jitter,
                                abort: abort,
                                ledger: ledger
                            )
                        }
                    }
                    try await group.waitForAll()
                }
            } catch {
                await ledger.problem("client \(index): \(error)")
                return
            }
            try? await Task.sleep(for: .milliseconds(pauses.int(in: 20...120)))
        }
    }

    /// Submits one program until it is acknowledged (202), retrying after connection errors and 5xx answers.
    private func submit(
        _ program: ChaosProgram,
        to object: ChaosObject,
        idempotencyKey: String,
        jitter: UInt64,
        abort: ChaosFlag,
        ledger: ChaosLedger
    ) async throws {
        var pauses = ChaosRandom(seed: jitter)
        let body = String(decoding: try JSONEncoder().encode(program), as: UTF8.self)
        let url = "\(server.ingress)/\(object.service)/\(object.key)/interpret/send"
        let headers = [("content-type", "application/json"), ("idempotency-key", idempotencyKey)]
        // Long enough for every restart the driver may do meanwhile (each fails the test after 30 s).
        let deadline = ContinuousClock.now + .seconds(120)
        var attempts = 0
        while true {
            attempts += 1
            if let answer = try? await client.chaosRequest(
                .POST,
                url,
                body: body,
                headers: headers,
                timeout: .seconds(20)
            ) {
                if answer.status == 202 {
                    let json = try answer.json()
                    guard let id = json["invocationId"] as? String else {
                        throw ChaosFailure(
                            "submission \(idempotencyKey) answered 202 without an invocation id: \(answer.text)"
                        )
                    }
                    let submission = ChaosLedger.Submission(id: id, object: object, program: program)
                    await ledger.acknowledged(
                        submission,
                        attempts: attempts,
                        previously: json["status"] as? String == "PreviouslyAccepted"
                    )
                    return
                }
                guard answer.status >= 500 else {
                    throw ChaosFailure(
                        "submission \(idempotencyKey) to \(object) answered \(answer.status) \(answer.text)"
                    )
                }
                await ledger.serverError("\(answer.status) \(answer.text)")
            }
            guard ContinuousClock.now < deadline else {
                throw ChaosFailure("submission \(idempotencyKey) to \(object) was not acknowledged within 120 s")
            }
            // The driver failed (a restart did not come up): nobody will answer.
            guard !abort.isSet else { throw ChaosFailure("submission \(idempotencyKey) abandoned: the driver failed") }
            try await Task.sleep(for: .milliseconds(pauses.int(in: 20...80)))
        }
    }

    // MARK: Driver

    /// Kills the server `configuration.kills` times, at random moments spread over `configuration.seconds`,
    /// and starts it again after each; about a third of the kills hit a server that was just restarted.
    private func drive(random: ChaosRandom, started: ContinuousClock.Instant) async throws -> ChaosFigures {
        var random = random
        var figures = ChaosFigures()
        let interval = configuration.seconds / Double(max(configuration.kills, 1))
        while figures.kills < configuration.kills {
            let planned = started + .seconds(interval * (Double(figures.kills) + 0.3 + 0.7 * random.unit()))
            // A restarted server serves load for a moment before it is killed again.
            let earliest = ContinuousClock.now + .milliseconds(random.int(in: 100...400))
            try await Task.sleep(until: max(planned, earliest), clock: .continuous)
            if let status = server.exitedByItself {
                throw ChaosFailure("keel exited by itself with status \(status) (after \(figures.kills) kills)")
            }
            server.kill()
            figures.kills += 1

            if figures.kills < configuration.kills, random.unit() < 0.3 {
                // Kill again while the restarted server recovers: before it answers health, or soon after, while
                // it still runs the invocations it recovered.
                try server.spawn()
                let typical = chaosQuantile(figures.restarts, 0.5) ?? .milliseconds(300)
                let killAt = ContinuousClock.now + (typical * 2 + .milliseconds(300)) * random.unit()
                var healthy = false
                while ContinuousClock.now < killAt {
                    if !healthy,
                        let answer = try? await client.chaosRequest(
                            .GET,
                            "\(server.ingress)/restate/health",
                            timeout: .seconds(1)
                        )
                    {
                        healthy = answer.status == 200
                    }
                    try await Task.sleep(
                        until: min(killAt, ContinuousClock.now + .milliseconds(10)),
                        clock: .continuous
                    )
                }
                if let status = server.exitedByItself {
                    throw ChaosFailure(
                        "keel exited by itself with status \(status) while recovering (after \(figures.kills) kills)"
                    )
                }
                server.kill()
                figures.kills += 1
                figures.recoveryKills += 1
                if healthy { figures.recoveryKillsAfterHealth += 1 }
            }

            try server.spawn()
            do {
                figures.restarts.append(try await server.waitUntilHealthy(client: client))
            } catch {
                throw ChaosFailure("restart after kill \(figures.kills) failed: \(error)")
            }
        }
        // The last restart serves load for a while, and the run lasts at least `seconds`.
        try await Task.sleep(
            until: max(started + .seconds(configuration.seconds), ContinuousClock.now + .seconds(2)),
            clock: .continuous
        )
        return figures
    }

    // MARK: Verification

    private struct Pending: Sendable {
        var id: String
        var expectation: ChaosExpectation
        var topLevel: Bool
    }

    private struct Attached: Sendable {
        var expected = 0
        var completed = 0
        var topLevelCompleted = 0
        var problems: [String] = []
    }

    /// Attaches to every acknowledged invocation and, through the ids their outcomes name, to every invocation
    /// they started; each must answer what the model says.
    private func attachAll(_ submissions: [ChaosLedger.Submission]) async -> Attached {
        var pending = submissions.reversed().map {
            Pending(id: $0.id, expectation: .interpret($0.object, $0.program), topLevel: true)
        }
        var attached = Attached()
        // Generous for a long run's backlog (tens of thousands of invocations), yet bounded if something hangs.
        let deadline = ContinuousClock.now + .seconds(180) + .milliseconds(10 * submissions.count)
        await withTaskGroup(of: (Pending, Result<[Pending], ChaosFailure>).self) { group in
            var running = 0
            while !pending.isEmpty || running > 0 {
                while running < 32, let next = pending.popLast() {
                    attached.expected += 1
                    running += 1
                    group.addTask { (next, await attach(next, deadline: deadline)) }
                }
                guard let (item, result) = await group.next() else { break }
                running -= 1
                switch result {
                case .success(let children):
                    attached.completed += 1
                    if item.topLevel { attached.topLevelCompleted += 1 }
                    pending.append(contentsOf: children.reversed())
                case .failure(let failure):
                    if attached.problems.count < 50 { attached.problems.append(failure.description) }
                }
            }
        }
        return attached
    }

    private func attach(_ item: Pending, deadline: ContinuousClock.Instant) async -> Result<[Pending], ChaosFailure> {
        let url = "\(server.ingress)/restate/invocation/\(item.id)/attach"
        var answer: HTTPResult?
        while answer == nil {
            guard ContinuousClock.now < deadline else {
                return .failure(
                    ChaosFailure(
                        "\(item.id) (\(item.expectation.label)) did not complete before the verification deadline"
                    )
                )
            }
            do {
                answer = try await client.chaosRequest(.GET, url, timeout: .seconds(60))
            } catch {
                try? await Task.sleep(for: .milliseconds(100))
            }
        }
        guard let answer, answer.status == 200 else {
            return .failure(
                ChaosFailure(
                    "attach \(item.id) (\(item.expectation.label)) answered \(answer?.status ?? 0) \(answer?.text ?? "")"
                )
            )
        }
        switch item.expectation {
        case .resolve(let value):
            guard (try? JSONDecoder().decode(Int.self, from: answer.body)) == value else {
                return .failure(ChaosFailure("\(item.id) (resolve \(value)) answered \(answer.text)"))
            }
            return .success([])
        case .interpret(let object, let program):
            guard let outcome = try? JSONDecoder().decode(ChaosOutcome.self, from: answer.body) else {
                return .failure(ChaosFailure("\(item.id) (\(object)) answered \(answer.text), not an outcome"))
            }
            let expectedSum = ChaosModel.sum(of: program)
            let children = ChaosModel.children(of: program, on: object)
            guard outcome.sum == expectedSum, outcome.children.count == children.count else {
                return .failure(
                    ChaosFailure(
                        "\(item.id) (\(object)) answered \(answer.text); the model says sum \(expectedSum), \(children.count) children"
                    )
                )
            }
            return .success(zip(outcome.children, children).map { Pending(id: $0, expectation: $1, topLevel: false) })
        }
    }
}

extension Duration {
    var seconds: Double {
        Double(components.seconds) + Double(components.attoseconds) / 1e18
    }
}
