import Foundation
import KeelCore
import KeelProtocol
import KeelStore
import Testing

extension StoreConformance {
    func failedBatchLeavesNothing() async throws {
        let earlier = Self.id(1)
        let fresh = Self.id(2)
        try await withFreshStore { store, _ in
            try await store.apply([
                .insertInvocation(Self.record(earlier, sequence: 1)),
                .appendJournal(earlier, index: 0, entry: Self.entry(1, "input")),
            ])
            let duplicateInvocation: [StoreOperation] = [
                .insertInvocation(Self.record(fresh, sequence: 2)),
                .appendJournal(fresh, index: 0, entry: Self.entry(1, "input")),
                .appendJournal(earlier, index: 1, entry: Self.entry(2, "step")),
                .updateStatus(earlier, status: .suspended, retryCount: 1, lastFailure: nil, modifiedAt: 9),
                .setState(Self.counter, name: Data("n".utf8), value: Data("1".utf8)),
                .insertInvocation(Self.record(fresh, sequence: 3)),
            ]
            let duplicateJournalIndex: [StoreOperation] = [
                .insertInvocation(Self.record(fresh, sequence: 4)),
                .appendJournal(earlier, index: 0, entry: Self.entry(1, "again")),
            ]
            for batch in [duplicateInvocation, duplicateJournalIndex] {
                let error = await #expect(throws: StoreError.self) { try await store.apply(batch) }
                #expect(error?.code == .constraint)
                #expect(try await store.invocation(fresh) == nil)
                #expect(try await store.invocation(earlier) == Self.record(earlier, sequence: 1))
                #expect(try await store.journal(of: earlier) == [Self.entry(1, "input")])
                #expect(try await store.state(of: Self.counter).isEmpty)
                #expect(try await store.maxSequence() == 1)
            }
            try await store.apply([.insertInvocation(Self.record(fresh, sequence: 5))])
            #expect(try await store.invocation(fresh) == Self.record(fresh, sequence: 5))
        }
    }

    func largeBatchCommits() async throws {
        let count = 1_000
        var batch: [StoreOperation] = []
        for number in 1...count {
            let id = Self.id(UInt128(number))
            batch.append(.insertInvocation(Self.record(id, sequence: Int64(number))))
            batch.append(.appendJournal(id, index: 0, entry: Self.entry(1, "input \(number)")))
            batch.append(.appendJournal(id, index: 1, entry: Self.entry(2, "step \(number)")))
            let object = ObjectAddress(service: "Counter", key: "\(number)")
            batch.append(.setState(object, name: Data("n".utf8), value: Data("\(number)".utf8)))
        }
        try await withFreshStore { store, _ in
            try await store.apply(batch)
            #expect(try await store.unfinishedInvocations().count == count)
            #expect(try await store.maxSequence() == Int64(count))
            #expect(try await store.journal(of: Self.id(500)).count == 2)
            #expect(
                try await store.state(of: ObjectAddress(service: "Counter", key: "700"))
                    == [StateEntry(name: Data("n".utf8), value: Data("700".utf8))]
            )
        }
    }

    func reopenKeepsEverything() async throws {
        let running = Self.id(1)
        let done = Self.id(2)
        let result = InvocationResult.failure(Failure(code: 400, message: "bad", metadata: ["field": "name"]))
        let open = try await freshDatabase()
        let first = try await open()
        try await first.apply([
            .insertInvocation(Self.record(running, sequence: 1)),
            .appendJournal(running, index: 0, entry: Self.entry(1, "input")),
            .insertInvocation(Self.record(done, sequence: 2)),
            .completeInvocation(done, result: result, completedAt: 3, expiresAt: 4),
            .setState(Self.counter, name: Data("n".utf8), value: Data("1".utf8)),
        ])
        let before = try await (first.unfinishedInvocations(), first.invocation(done))
        await first.close()

        let second = try await open()
        #expect(try await second.unfinishedInvocations() == before.0)
        #expect(try await second.invocation(done) == before.1)
        #expect(try await second.invocation(done)?.result == result)
        #expect(try await second.journal(of: running) == [Self.entry(1, "input")])
        #expect(try await second.state(of: Self.counter) == [StateEntry(name: Data("n".utf8), value: Data("1".utf8))])
        #expect(try await second.maxSequence() == 2)
        await second.close()
    }

    func closedStoreRefusesCalls() async throws {
        let open = try await freshDatabase()
        let store = try await open()
        try await store.apply([.insertInvocation(Self.record(Self.id(1), sequence: 1))])
        await store.close()
        await store.close()

        let calls: [@Sendable () async throws -> Void] = [
            { try await store.apply([.insertInvocation(Self.record(Self.id(2), sequence: 2))]) },
            { try await store.apply([]) },
            { _ = try await store.unfinishedInvocations() },
            { _ = try await store.invocation(Self.id(1)) },
            { _ = try await store.journal(of: Self.id(1)) },
            { _ = try await store.state(of: Self.counter) },
            { _ = try await store.maxSequence() },
            { _ = try await store.purgeExpired(now: 0) },
            { _ = try await store.timers() },
            { _ = try await store.suspendedWithNewEntries() },
            { _ = try await store.subscriptions() },
            { _ = try await store.promise(Self.counter, name: "p") },
        ]
        for call in calls {
            let error = await #expect(throws: StoreError.self) { try await call() }
            #expect(error?.code == .closed)
        }
    }
}
