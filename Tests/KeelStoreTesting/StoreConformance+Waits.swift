import Foundation
import KeelCore
import KeelProtocol
import KeelStore
import Testing

extension StoreConformance {
    func journalReportsLastIndex() async throws {
        let id = Self.id(1)
        try await withFreshStore { store, _ in
            #expect(try await store.storedJournal(of: id) == StoredJournal(entries: [], lastIndex: 0))
            try await store.apply([
                .insertInvocation(Self.record(id, sequence: 1)),
                .appendJournal(id, index: 10, entry: Self.entry(0x0400, "input")),
                .appendJournal(id, index: 42, entry: Self.entry(0x040C, "sleep")),
            ])
            #expect(try await store.storedJournal(of: id).lastIndex == 42)
            // Journal indexes come from the same sequence as invocations: it never goes back behind them.
            #expect(try await store.maxSequence() >= 42)
        }
    }

    func timersRoundTripAndEndWithTheirInvocation() async throws {
        let sleeping = Self.id(1)
        let other = Self.id(2)
        let first = TimerRecord(invocationID: sleeping, completionID: 1, dueAt: 5_000)
        let second = TimerRecord(invocationID: sleeping, completionID: 3, dueAt: 2_000)
        let third = TimerRecord(invocationID: other, completionID: 1, dueAt: 9_000)
        try await withFreshStore { store, open in
            try await store.apply([
                .insertInvocation(Self.record(sleeping, sequence: 1)),
                .insertInvocation(Self.record(other, sequence: 2, key: "b")),
                .insertTimer(first), .insertTimer(second), .insertTimer(third),
            ])
            #expect(try await store.timers() == [second, first, third])
            try await store.apply([.deleteTimer(sleeping, completionID: 3)])
            #expect(try await store.timers() == [first, third])
            try await store.apply([
                .completeInvocation(sleeping, result: .success(Data()), completedAt: 9, expiresAt: nil)
            ])
            #expect(try await store.timers() == [third])
            await store.close()
            let reopened = try await open()
            #expect(try await reopened.timers() == [third])
            await reopened.close()
        }
    }

    func scopedReads() async throws {
        // Keys around the signed boundary: a store keeping the UInt64 as an Int64 must still divide it unsigned.
        let keys: [UInt64] = [0, 1, 5, 6, 1 << 63, (1 << 63) + 1, UInt64.max - 1, UInt64.max]
        let ids = keys.enumerated().map { Self.id(UInt128($0.offset + 1), partition: $0.element) }
        try await withFreshStore { store, _ in
            var operations: [StoreOperation] = []
            for (index, id) in ids.enumerated() {
                operations.append(.insertInvocation(Self.record(id, sequence: Int64(index + 1), key: "k\(index)")))
                operations.append(
                    .insertTimer(TimerRecord(invocationID: id, completionID: 1, dueAt: Int64(100 - index)))
                )
            }
            // Subscriptions to each invocation's result (a subscriber of its own, so that none ends with the
            // completed one below) and to promises of workflows whose keys hash anywhere.
            let waiter = Self.id(99)
            operations.append(.insertInvocation(Self.record(waiter, sequence: 99, key: "waiter")))
            for (index, id) in ids.enumerated() {
                operations.append(
                    .subscribe(
                        Subscription(topic: .invocation(id), subscriber: waiter, completionID: 1, notificationType: 1)
                    )
                )
                let workflow = ObjectAddress(service: "Approval", key: "w\(index)")
                operations.append(
                    .subscribe(
                        Subscription(
                            topic: .promise(workflow, name: "p"),
                            subscriber: waiter,
                            completionID: UInt32(index + 2),
                            notificationType: 1
                        )
                    )
                )
            }
            // A completed invocation is not unfinished, and its timer went with its completion.
            operations.append(.completeInvocation(ids[2], result: .success(Data()), completedAt: 9, expiresAt: nil))
            try await store.apply(operations)
            let unfinished = try await store.unfinishedInvocations().filter { $0.id != waiter }
            let timers = try await store.timers()
            let subscriptions = try await store.subscriptions()
            #expect(subscriptions.count == ids.count * 2)
            for scope in [
                PartitionScope([1, 3], of: 4), PartitionScope([0], of: 4), PartitionScope([2, 5], of: 7),
                PartitionScope([0, 1, 2], of: 3), PartitionScope([], of: 4),
            ] {
                let scoped = try await store.unfinishedInvocations(in: scope).filter { $0.id != waiter }
                #expect(scoped == unfinished.filter { scope.contains($0.id) }, "\(scope)")
                #expect(try await store.timers(in: scope) == timers.filter { scope.contains($0.invocationID) })
                #expect(
                    Set(try await store.subscriptions(in: scope))
                        == Set(subscriptions.filter { scope.contains(partitionKey: $0.topic.partitionKey) }),
                    "\(scope)"
                )
            }
            #expect(try await store.unfinishedInvocations(in: PartitionScope([0, 1, 2], of: 3)).count == 8)
            #expect(try await store.subscriptions(in: PartitionScope([0, 1, 2], of: 3)).count == ids.count * 2)
        }
    }

    func subscriptionsRoundTripAndEnd() async throws {
        let callee = Self.id(1)
        let caller = Self.id(2)
        let waiter = Self.id(3)
        let workflow = ObjectAddress(service: "Approval", key: "w/1:x")
        let call = Subscription(
            topic: .invocation(callee),
            subscriber: caller,
            completionID: 2,
            notificationType: 0x800D
        )
        let promise = Subscription(
            topic: .promise(workflow, name: "decision:1"),
            subscriber: waiter,
            completionID: 1,
            notificationType: 0x8009
        )
        let other = Subscription(
            topic: .invocation(callee),
            subscriber: waiter,
            completionID: 4,
            notificationType: 0x8012
        )
        try await withFreshStore { store, _ in
            try await store.apply([.subscribe(call), .subscribe(promise), .subscribe(other), .subscribe(call)])
            #expect(Set(try await store.subscriptions()) == [call, promise, other])
            // A subscriber that ends takes its subscriptions along; a topic that completes drops its own.
            try await store.apply([.insertInvocation(Self.record(waiter, sequence: 1)), .deleteInvocation(waiter)])
            #expect(try await store.subscriptions() == [call])
            try await store.apply([.deleteSubscriptions(.invocation(callee))])
            #expect(try await store.subscriptions().isEmpty)
        }
        #expect(SubscriptionTopic(promise.topic.description) == promise.topic)
        #expect(SubscriptionTopic(call.topic.description) == call.topic)
    }

    func promisesKeepTheirFirstResult() async throws {
        let workflow = ObjectAddress(service: "Approval", key: "w1")
        try await withFreshStore { store, _ in
            #expect(try await store.promise(workflow, name: "decision") == nil)
            try await store.apply([.completePromise(workflow, name: "decision", result: .success(Data("yes".utf8)))])
            try await store.apply([
                .completePromise(workflow, name: "decision", result: .failure(Failure(code: 500, message: "late")))
            ])
            try await store.apply([
                .completePromise(
                    workflow,
                    name: "other",
                    result: .failure(Failure(code: 409, message: "no", metadata: ["k": "v"]))
                )
            ])
            #expect(try await store.promise(workflow, name: "decision") == .success(Data("yes".utf8)))
            #expect(
                try await store.promise(workflow, name: "other")
                    == .failure(Failure(code: 409, message: "no", metadata: ["k": "v"]))
            )
            #expect(try await store.promise(ObjectAddress(service: "Approval", key: "w2"), name: "decision") == nil)
        }
    }
}

extension StoreConformance {
    func suspendedWithNewEntriesSeesArrivals() async throws {
        let quiet = Self.id(1)
        let woken = Self.id(2)
        let legacy = Self.id(3)
        let running = Self.id(4, partition: 8)
        try await withFreshStore { store, _ in
            try await store.apply([
                .insertInvocation(Self.record(quiet, sequence: 1)),
                .insertInvocation(Self.record(woken, sequence: 2, key: "b")),
                .insertInvocation(Self.record(legacy, sequence: 3, status: .suspended, key: "c")),
                .insertInvocation(Self.record(running, sequence: 4, key: "d")),
                .appendJournal(quiet, index: 1, entry: Self.entry(0x0400, "input")),
                .appendJournal(quiet, index: 2, entry: Self.entry(0x040C, "sleep")),
                .appendJournal(woken, index: 3, entry: Self.entry(0x0400, "input")),
                .appendJournal(running, index: 4, entry: Self.entry(0x0400, "input")),
                .suspend(quiet, knownEntries: 2, modifiedAt: 10),
                .suspend(woken, knownEntries: 1, modifiedAt: 10),
            ])
            #expect(try await store.invocation(quiet)?.status == .suspended)
            // Suspended before anything arrived, or recorded without a count: only those two need a replay.
            try await store.apply([.appendJournal(woken, index: 5, entry: Self.entry(0x800C, "woke"))])
            #expect(try await store.suspendedWithNewEntries() == [woken, legacy])
        }
    }
}

extension StoreConformance {
    func workflowStateEndsWithItsRun() async throws {
        let purged = ObjectAddress(service: "Approval", key: "old")
        let expired = ObjectAddress(service: "Approval", key: "expired")
        let kept = ObjectAddress(service: "Approval", key: "new")
        func run(_ id: InvocationID, _ object: ObjectAddress, sequence: Int64) -> InvocationRecord {
            InvocationRecord(
                id: id,
                target: InvocationTarget(service: object.service, handler: "run", key: object.key),
                handlerKind: .workflow,
                status: .invoked,
                sequence: sequence,
                createdAt: 1
            )
        }
        let (first, second, third) = (Self.id(1), Self.id(2), Self.id(3))
        try await withFreshStore { store, _ in
            var batch: [StoreOperation] = []
            for (id, object, sequence) in [(first, purged, Int64(1)), (second, expired, 2), (third, kept, 3)] {
                batch += [
                    .insertInvocation(run(id, object, sequence: sequence)),
                    .setState(object, name: Data("status".utf8), value: Data("done".utf8)),
                    .completePromise(object, name: "decision", result: .success(Data("yes".utf8))),
                ]
            }
            batch += [
                .completeInvocation(first, result: .success(Data()), completedAt: 5, expiresAt: 1_000),
                .completeInvocation(second, result: .success(Data()), completedAt: 5, expiresAt: 10),
                .completeInvocation(third, result: .success(Data()), completedAt: 5, expiresAt: 1_000),
                .deleteInvocation(first),
            ]
            try await store.apply(batch)
            #expect(try await store.purgeExpired(now: 100) == 1)
            for gone in [purged, expired] {
                #expect(try await store.state(of: gone).isEmpty)
                #expect(try await store.promise(gone, name: "decision") == nil)
            }
            #expect(try await store.state(of: kept).count == 1)
            #expect(try await store.promise(kept, name: "decision") == .success(Data("yes".utf8)))
        }
    }
}
