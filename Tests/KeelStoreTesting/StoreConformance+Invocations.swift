import Foundation
import KeelCore
import KeelProtocol
import KeelStore
import Testing

extension StoreConformance {
    func everyFieldRoundTrips() async throws {
        let full = InvocationRecord(
            id: Self.id(1, partition: UInt64.max),
            target: InvocationTarget(service: "Cart", handler: "checkout", key: "user-ü/1"),
            handlerKind: .workflow,
            status: .suspended,
            sequence: 42,
            idempotencyKey: "idem-1",
            createdAt: 1_700_000_000_000,
            modifiedAt: 1_700_000_000_500,
            executeAt: 1_700_000_060_000,
            retryCount: 3,
            lastFailure: "connection reset"
        )
        let bare = InvocationRecord(
            id: Self.id(2, partition: 0),
            target: InvocationTarget(service: "Greeter", handler: "greet"),
            handlerKind: nil,
            status: .scheduled,
            sequence: 43,
            createdAt: 5
        )
        let failed = InvocationRecord(
            id: Self.id(3, partition: UInt64(Int64.max) + 1),
            target: InvocationTarget(service: "Cart", handler: "pay", key: "k"),
            handlerKind: .shared,
            status: .completed,
            sequence: 44,
            createdAt: 6,
            result: .failure(Failure(code: 409, message: "no stock", metadata: ["sku": "42", "why": "sold out"])),
            completedAt: 7,
            expiresAt: 8
        )
        let emptySuccess = InvocationRecord(
            id: Self.id(4, partition: UInt64(Int64.max)),
            target: InvocationTarget(service: "Greeter", handler: "ping"),
            handlerKind: nil,
            status: .completed,
            sequence: 45,
            createdAt: 9,
            result: .success(Data()),
            completedAt: 10
        )
        let plainFailure = InvocationRecord(
            id: Self.id(5),
            target: InvocationTarget(service: "Greeter", handler: "fail"),
            handlerKind: nil,
            status: .completed,
            sequence: 46,
            createdAt: 11,
            result: .failure(Failure(code: 500, message: "")),
            completedAt: 12
        )
        let records = [full, bare, failed, emptySuccess, plainFailure]
        try await withFreshStore { store, _ in
            try await store.apply(records.map(StoreOperation.insertInvocation))
            for record in records {
                #expect(try await store.invocation(record.id) == record)
            }
        }
    }

    func unknownInvocationIsNil() async throws {
        try await withFreshStore { store, _ in
            try await store.apply([.insertInvocation(Self.record(Self.id(1), sequence: 1))])
            #expect(try await store.invocation(Self.id(2)) == nil)
            #expect(try await store.invocation(Self.id(1, partition: 8)) == nil)
            #expect(try await store.journal(of: Self.id(2)).isEmpty)
        }
    }

    func statusUpdatesKeepTheRest() async throws {
        let original = Self.record(Self.id(1), sequence: 1, status: .invoked)
        try await withFreshStore { store, _ in
            try await store.apply([.insertInvocation(original)])
            try await store.apply([
                .updateStatus(original.id, status: .paused, retryCount: 70, lastFailure: "boom", modifiedAt: 2_000)
            ])
            var expected = original
            expected.status = .paused
            expected.retryCount = 70
            expected.lastFailure = "boom"
            expected.modifiedAt = 2_000
            #expect(try await store.invocation(original.id) == expected)

            try await store.apply([
                .updateStatus(original.id, status: .invoked, retryCount: 0, lastFailure: nil, modifiedAt: 3_000)
            ])
            expected.status = .invoked
            expected.retryCount = 0
            expected.lastFailure = nil
            expected.modifiedAt = 3_000
            #expect(try await store.invocation(original.id) == expected)
        }
    }

    func completionDropsJournal() async throws {
        let id = Self.id(1)
        let result = InvocationResult.success(Data("42".utf8))
        try await withFreshStore { store, _ in
            try await store.apply([
                .insertInvocation(Self.record(id, sequence: 1)),
                .appendJournal(id, index: 0, entry: Self.entry(0x0400, "input")),
                .appendJournal(id, index: 1, entry: Self.entry(0x0401, "step")),
            ])
            try await store.apply([.completeInvocation(id, result: result, completedAt: 5_000, expiresAt: 9_000)])

            let stored = try #require(try await store.invocation(id))
            #expect(stored.status == .completed)
            #expect(stored.result == result)
            #expect(stored.completedAt == 5_000)
            #expect(stored.expiresAt == 9_000)
            #expect(stored.target == Self.record(id, sequence: 1).target)
            #expect(try await store.journal(of: id).isEmpty)
            #expect(try await store.unfinishedInvocations().isEmpty)
        }
    }

    func deleteForgetsEverything() async throws {
        let gone = Self.id(1)
        let kept = Self.id(2)
        try await withFreshStore { store, _ in
            try await store.apply([
                .insertInvocation(Self.record(gone, sequence: 1)),
                .appendJournal(gone, index: 0, entry: Self.entry(1, "input")),
                .insertInvocation(Self.record(kept, sequence: 2)),
                .appendJournal(kept, index: 0, entry: Self.entry(1, "input")),
            ])
            try await store.apply([.deleteInvocation(gone)])
            #expect(try await store.invocation(gone) == nil)
            #expect(try await store.journal(of: gone).isEmpty)
            #expect(try await store.journal(of: kept) == [Self.entry(1, "input")])
            #expect(try await store.unfinishedInvocations().map(\.id) == [kept])
        }
    }

    func purgeRemovesOnlyExpired() async throws {
        let ids = (1...4).map { Self.id(UInt128($0)) }
        try await withFreshStore { store, _ in
            try await store.apply(ids.enumerated().map { .insertInvocation(Self.record($1, sequence: Int64($0))) })
            try await store.apply([
                .completeInvocation(ids[0], result: .success(Data()), completedAt: 10, expiresAt: 100),
                .completeInvocation(ids[1], result: .success(Data()), completedAt: 10, expiresAt: 200),
                .completeInvocation(ids[2], result: .success(Data()), completedAt: 10, expiresAt: nil),
            ])
            // ids[3] stays unfinished: only completed invocations expire.
            #expect(try await store.purgeExpired(now: 150) == 1)
            #expect(try await store.invocation(ids[0]) == nil)
            #expect(try await store.purgeExpired(now: 200) == 0)
            #expect(try await store.purgeExpired(now: Int64.max) == 1)
            #expect(try await store.invocation(ids[1]) == nil)
            #expect(try await store.invocation(ids[2]) != nil)
            #expect(try await store.invocation(ids[3]) != nil)
        }
    }

    func maxSequenceNeverGoesBack() async throws {
        try await withFreshStore { store, _ in
            #expect(try await store.maxSequence() == 0)
            try await store.apply([
                .insertInvocation(Self.record(Self.id(1), sequence: 5)),
                .insertInvocation(Self.record(Self.id(2), sequence: 9)),
                .insertInvocation(Self.record(Self.id(3), sequence: 3)),
            ])
            #expect(try await store.maxSequence() == 9)
            try await store.apply([
                .completeInvocation(Self.id(2), result: .success(Data()), completedAt: 1, expiresAt: 2),
                .deleteInvocation(Self.id(1)),
            ])
            #expect(try await store.purgeExpired(now: 3) == 1)
            #expect(try await store.maxSequence() == 9)
        }
    }

    func unfinishedInSequenceOrder() async throws {
        try await withFreshStore { store, _ in
            try await store.apply([
                .insertInvocation(Self.record(Self.id(1), sequence: 30, status: .inboxed)),
                .insertInvocation(Self.record(Self.id(2), sequence: 10, status: .scheduled)),
                .insertInvocation(Self.record(Self.id(3), sequence: 20, status: .completed)),
                .insertInvocation(Self.record(Self.id(4), sequence: 15, status: .paused)),
                .insertInvocation(Self.record(Self.id(5), sequence: 5, status: .suspended)),
            ])
            try await store.apply([
                .completeInvocation(Self.id(5), result: .success(Data()), completedAt: 1, expiresAt: nil)
            ])
            let unfinished = try await store.unfinishedInvocations()
            #expect(unfinished.map(\.sequence) == [10, 15, 30])
            #expect(unfinished.map(\.status) == [.scheduled, .paused, .inboxed])
        }
    }
}
