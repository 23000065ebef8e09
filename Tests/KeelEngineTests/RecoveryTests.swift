import Foundation
import Keel
import KeelCore
import KeelProtocol
import KeelSQLite
import KeelStore
import Synchronization
import Testing

@testable import KeelEngine

/// Recovery from what a crash leaves in the store, on a real SQLite file.
@Suite("Recovery after a crash")
struct RecoveryTests {
    static let counter = VirtualObject("Counter").handler("add") { (ctx: ObjectContext, delta: Int) in
        let total = (try await ctx.get("count", as: Int.self) ?? 0) + delta
        try ctx.set("count", total)
        return total
    }

    /// An unfinished invocation of `Counter/{key}/add` with `delta` as it stands in the store.
    static func stored(
        _ number: UInt128,
        key: String,
        delta: Int,
        status: InvocationStatus,
        sequence: Int64
    ) throws -> [StoreOperation] {
        let id = InvocationID(partitionKey: 7, uuid: number)
        let record = InvocationRecord(
            id: id,
            target: InvocationTarget(service: "Counter", handler: "add", key: key),
            handlerKind: .exclusive,
            status: status,
            sequence: sequence,
            createdAt: 1
        )
        let input = PBInputCommandMessage.with { $0.value = PBValue.with { $0.content = Data("\(delta)".utf8) } }
        let entry = JournalEntry(type: MessageType.input.rawValue, payload: try input.serializedData())
        return [.insertInvocation(record), .appendJournal(id, index: sequence, entry: entry)]
    }

    @Test("a kill after the Output command was stored and before the completion: the replay completes with it")
    func replayAfterStoredOutput() async throws {
        let greeter = Service("Greeter").handler("greet") { (_: Context, name: String) in "Hello, \(name)!" }
        let id = InvocationID(partitionKey: 3, uuid: 9)
        let record = InvocationRecord(
            id: id,
            target: InvocationTarget(service: "Greeter", handler: "greet"),
            handlerKind: nil,
            status: .invoked,
            sequence: 1,
            createdAt: 1
        )
        let input = PBInputCommandMessage.with { $0.value = PBValue.with { $0.content = Data("\"Ada\"".utf8) } }
        let output = PBOutputCommandMessage.with {
            $0.value = PBValue.with { $0.content = Data("\"Hello, Ada!\"".utf8) }
        }
        let operations: [StoreOperation] = [
            .insertInvocation(record),
            .appendJournal(
                id,
                index: 1,
                entry: JournalEntry(type: MessageType.input.rawValue, payload: try input.serializedData())
            ),
            .appendJournal(
                id,
                index: 2,
                entry: JournalEntry(type: MessageType.output.rawValue, payload: try output.serializedData())
            ),
        ]
        let result: InvocationResult? = try await withStoreAndEngine([Endpoint(greeter)], crashedWith: operations) {
            engine,
            _ in
            let deadline = ContinuousClock.now + .seconds(10)
            while ContinuousClock.now < deadline {
                if let result = try await engine.output(id) { return result }
                try await Task.sleep(for: .milliseconds(10))
            }
            return nil
        }
        #expect(result == json("\"Hello, Ada!\""))
    }

    @Test(
        "a key whose lock is free and whose inbox is not (a kill between a completion and the promotion) recovers and drains its inbox in order"
    )
    func recoversQueueBehindFreeLock() async throws {
        let operations =
            try Self.stored(1, key: "k", delta: 1, status: .inboxed, sequence: 1)
            + Self.stored(2, key: "k", delta: 10, status: .inboxed, sequence: 2)
            + Self.stored(3, key: "k", delta: 100, status: .inboxed, sequence: 3)
        try await withStoreAndEngine([Endpoint(Self.counter)], crashedWith: operations) { engine, _ in
            let first = try await engine.attach(InvocationID(partitionKey: 7, uuid: 1))
            let last = try await engine.attach(InvocationID(partitionKey: 7, uuid: 3))
            #expect(first == json("1"))
            #expect(last == json("111"))
        }
    }
}

@Suite("The crash watch: which embedded invocations were running when the process died")
struct CrashWatchTests {
    @Test("what one process marks is what the next one reads, and the next one starts clean")
    func roundTrip() throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("keel-watch-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: directory) }
        let (a, b, c, d) = (
            InvocationID(partitionKey: 1, uuid: 1), InvocationID(partitionKey: 2, uuid: 2),
            InvocationID(partitionKey: 3, uuid: 3), InvocationID(partitionKey: 4, uuid: 4)
        )

        let first = try CrashWatch(directory: directory.path)
        #expect(first.previousRun == QuarantineRules.PreviousRun())
        let slotA = try #require(first.enter(a))
        _ = first.enter(b)
        first.leave(slotA)
        _ = first.enter(c)
        first.setProbe(c)
        first.setSuspects([d])

        let second = try CrashWatch(directory: directory.path)
        #expect(Set(second.previousRun.running) == [b, c])
        #expect(second.previousRun.probe == c)
        #expect(second.previousRun.suspects == [d])
        #expect(second.previousRun.trapSignal == 0)

        let third = try CrashWatch(directory: directory.path)
        #expect(third.previousRun == QuarantineRules.PreviousRun())
    }
}

struct RecoveryHung: Error {}

/// Runs `work` in a task of its own and throws `RecoveryHung` if it has not returned after a minute (the task
/// is left behind: a hang must fail the test, not stall the suite). A minute, not less: on a loaded 2-core CI
/// machine running the whole suite, a recovery that takes milliseconds alone was seen to take over 10 s.
func withinAMinute(_ work: @escaping @Sendable () async throws -> Void) async throws {
    let first = FirstOutcome()
    try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<Void, any Error>) in
        first.waiter.withLock { $0 = continuation }
        Task {
            do {
                try await work()
                first.finish(.success(()))
            } catch {
                first.finish(.failure(error))
            }
        }
        Task {
            try? await Task.sleep(for: .seconds(60))
            first.finish(.failure(RecoveryHung()))
        }
    }
}

/// Resumes its waiter with the first outcome it is given.
private final class FirstOutcome: Sendable {
    let waiter = Mutex<CheckedContinuation<Void, any Error>?>(nil)

    func finish(_ outcome: Result<Void, any Error>) {
        waiter.withLock { $0.take() }?.resume(with: outcome)
    }
}
