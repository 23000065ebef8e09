import Foundation
import KeelCore
import KeelProtocol
import KeelSQLite
import KeelStore
import Logging
import Testing

@testable import KeelEngine

/// The group-commit writer on a real SQLite file: with its own commit thread (SQLite is a `BlockingStore`),
/// and from its task, as for a store that only writes asynchronously.
@Suite("Group commit")
struct GroupCommitWriterTests {
    /// A writer over a fresh store, running until `body` returns; then closed, and its `run` awaited.
    private func withWriter(
        blocking: Bool,
        _ body: @escaping @Sendable (GroupCommitWriter, SQLiteStore) async throws -> Void
    ) async throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent(
            "keel-writer-\(UUID().uuidString)"
        )
        defer { try? FileManager.default.removeItem(at: directory) }
        let store = try SQLiteStore(directory: directory)
        let written: any Store = blocking ? store : AsyncOnlyStore(base: store)
        let writer = GroupCommitWriter(store: written, sequence: SequenceCounter(), logger: Logger(label: "test"))
        try await withThrowingTaskGroup(of: Void.self) { group in
            group.addTask { await writer.run() }
            do {
                try await body(writer, store)
            } catch {
                writer.close()
                throw error
            }
            writer.close()
            try await group.waitForAll()
        }
        await store.close()
    }

    private static func creation(_ number: UInt128, sequence: Int64) -> (InvocationID, [StoreOperation]) {
        let id = InvocationID(partitionKey: 7, uuid: number)
        let record = InvocationRecord(
            id: id,
            target: InvocationTarget(service: "Bench", handler: "run"),
            handlerKind: nil,
            status: .invoked,
            sequence: sequence,
            createdAt: 1
        )
        return (
            id,
            [
                .insertInvocation(record),
                .appendJournal(id, index: 0, entry: JournalEntry(type: 0x0400, payload: Data("in".utf8))),
            ]
        )
    }

    @Test(
        "a waiting commit writes what was enqueued before it, in the same transaction, and returns once it is stored",
        arguments: [true, false]
    )
    func commitCarriesEnqueued(blocking: Bool) async throws {
        try await withWriter(blocking: blocking) { writer, store in
            let (first, creation) = Self.creation(1, sequence: 1)
            #expect(writer.enqueue(creation, for: first) == 1)
            let (second, other) = Self.creation(2, sequence: 2)
            try await writer.commit(other, for: second)
            #expect(try await store.invocation(first) != nil)
            #expect(try await store.journal(of: first).count == 1)
            #expect(try await store.journal(of: second).count == 1)
        }
    }

    @Test("what nobody waits for is written by itself soon after it was handed in", arguments: [true, false])
    func lazyIsWrittenWithoutACommit(blocking: Bool) async throws {
        try await withWriter(blocking: blocking) { writer, store in
            let (id, creation) = Self.creation(3, sequence: 1)
            writer.enqueue(creation, for: id)
            // No commit follows: the commit thread writes it after `lazyDelay`. Polled, with a generous bound.
            let deadline = ContinuousClock.now + .seconds(10)
            while try await store.invocation(id) == nil {
                #expect(ContinuousClock.now < deadline, "the lazy submission was never written")
                if ContinuousClock.now >= deadline { return }
                try await Task.sleep(for: .milliseconds(1))
            }
        }
    }

    @Test("a lazy commit returns once stored, also when nothing else is written", arguments: [true, false])
    func lazyCommitReturns(blocking: Bool) async throws {
        try await withWriter(blocking: blocking) { writer, store in
            let (id, creation) = Self.creation(4, sequence: 1)
            try await writer.commit(creation, for: id, lazy: true)
            #expect(try await store.invocation(id) != nil)
        }
    }

    @Test("closing writes what is pending, then refuses new changes", arguments: [true, false])
    func closeDrains(blocking: Bool) async throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent(
            "keel-writer-\(UUID().uuidString)"
        )
        defer { try? FileManager.default.removeItem(at: directory) }
        let store = try SQLiteStore(directory: directory)
        let writer = GroupCommitWriter(
            store: blocking ? store : AsyncOnlyStore(base: store),
            sequence: SequenceCounter(),
            logger: Logger(label: "test")
        )
        let (id, creation) = Self.creation(5, sequence: 1)
        writer.enqueue(creation, for: id)
        writer.close()
        await writer.run()
        #expect(try await store.invocation(id) != nil)
        let (late, other) = Self.creation(6, sequence: 2)
        #expect(writer.enqueue(other, for: late) == nil)
        await #expect(throws: StoreError.self) { try await writer.commit(other, for: late) }
        await store.close()
    }

    @Test(
        "a failed batch fails its waiters and poisons its invocations until they are recovered",
        arguments: [true, false]
    )
    func failurePoisons(blocking: Bool) async throws {
        try await withWriter(blocking: blocking) { writer, store in
            let (id, creation) = Self.creation(7, sequence: 1)
            try await writer.commit(creation, for: id)
            // The same invocation again: the primary key refuses it, and the whole batch rolls back.
            let (bystander, other) = Self.creation(8, sequence: 2)
            writer.enqueue(other + creation, for: [bystander, id])
            await #expect(throws: (any Error).self) { try await writer.commit([], for: id) }
            #expect(try await store.invocation(bystander) == nil)
            #expect(writer.isPoisoned(id))
            #expect(writer.isPoisoned(bystander))
            #expect(
                writer.enqueue(
                    [.appendJournal(id, index: 0, entry: JournalEntry(type: 0x0400, payload: Data()))],
                    for: id
                ) == nil
            )
            writer.recover(id)
            writer.recover(bystander)
            try await writer.commit(other, for: bystander)
            #expect(try await store.invocation(bystander) != nil)
        }
    }
}

/// A store that only writes asynchronously (not a `BlockingStore`), over SQLite: the writer then writes from its
/// task, as it would for a network database.
struct AsyncOnlyStore: Store {
    let base: SQLiteStore

    func apply(_ operations: [StoreOperation]) async throws { try await base.apply(operations) }
    func unfinishedInvocations() async throws -> [InvocationRecord] { try await base.unfinishedInvocations() }
    func invocation(_ id: InvocationID) async throws -> InvocationRecord? { try await base.invocation(id) }
    func storedJournal(of id: InvocationID) async throws -> StoredJournal { try await base.storedJournal(of: id) }
    func suspendedWithNewEntries() async throws -> Set<InvocationID> { try await base.suspendedWithNewEntries() }
    func timers() async throws -> [TimerRecord] { try await base.timers() }
    func subscriptions() async throws -> [Subscription] { try await base.subscriptions() }
    func promise(_ object: ObjectAddress, name: String) async throws -> InvocationResult? {
        try await base.promise(object, name: name)
    }
    func state(of object: ObjectAddress) async throws -> [StateEntry] { try await base.state(of: object) }
    func maxSequence() async throws -> Int64 { try await base.maxSequence() }
    func purgeExpired(now: Int64) async throws -> Int { try await base.purgeExpired(now: now) }
    func saveDeployment(_ deployment: DeploymentRecord) async throws { try await base.saveDeployment(deployment) }
    func deployments() async throws -> [DeploymentRecord] { try await base.deployments() }
    func event(_ id: String) async throws -> EventRecord? { try await base.event(id) }
    func undeliveredEvents() async throws -> [EventRecord] { try await base.undeliveredEvents() }
    func saveEventSubscription(_ subscription: EventSubscriptionRecord) async throws {
        try await base.saveEventSubscription(subscription)
    }
    func deleteEventSubscription(_ id: String) async throws -> Bool { try await base.deleteEventSubscription(id) }
    func eventSubscriptions() async throws -> [EventSubscriptionRecord] { try await base.eventSubscriptions() }
    func saveSchedule(_ schedule: ScheduleRecord) async throws { try await base.saveSchedule(schedule) }
    func deleteSchedule(_ id: String) async throws -> Bool { try await base.deleteSchedule(id) }
    func schedules() async throws -> [ScheduleRecord] { try await base.schedules() }
    func saveHandlerLimits(_ limits: HandlerLimitsRecord) async throws { try await base.saveHandlerLimits(limits) }
    func handlerLimits() async throws -> [HandlerLimitsRecord] { try await base.handlerLimits() }
    func close() async { await base.close() }
}
