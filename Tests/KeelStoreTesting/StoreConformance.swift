import Foundation
import KeelCore
import KeelProtocol
import KeelStore
import Testing

/// What every `Store` must do, written against the protocol only so that each store runs the same checks.
///
/// A store's suite supplies `freshDatabase` and runs `StoreConformance.Check.allCases` as a parameterized test.
/// A library (not a test target) so that every store's tests run the same suite: SQLite's and PostgreSQL's.
public struct StoreConformance: Sendable {
    /// Opens one particular database; called again after `close()` it must show everything committed before.
    public typealias Open = @Sendable () async throws -> any Store

    /// Creates a new, empty database and returns how to open it.
    let freshDatabase: @Sendable () async throws -> Open

    public init(freshDatabase: @escaping @Sendable () async throws -> Open) {
        self.freshDatabase = freshDatabase
    }

    /// One behaviour, named by the sentence the test report shows.
    public enum Check: String, CaseIterable, Sendable, CustomTestStringConvertible {
        case everyFieldRoundTrips = "an inserted invocation reads back with every field, optional or not"
        case unknownInvocationIsNil = "an unknown invocation reads as nil and has an empty journal"
        case journalKeepsIndexOrder = "a journal reads back in index order, apart from other invocations' journals"
        case statusUpdatesKeepTheRest = "a status update changes status and retry bookkeeping only"
        case stateIsScopedToItsObject = "state set, overwrite, clear and clear-all touch one object only"
        case stateIsOrderedByName = "state reads back ordered by name bytes, empty names and values included"
        case completionDropsJournal = "completing an invocation keeps its result and drops its journal"
        case deleteForgetsEverything = "deleting an invocation forgets its row and its journal"
        case purgeRemovesOnlyExpired = "purgeExpired deletes completed invocations that expired before now, only"
        case maxSequenceNeverGoesBack = "maxSequence is the highest sequence ever stored, even after a purge"
        case unfinishedInSequenceOrder = "unfinished invocations come back in sequence order without completed ones"
        case failedBatchLeavesNothing = "a batch that breaks a constraint part-way stores nothing of itself"
        case largeBatchCommits = "a batch of thousands of operations commits as one"
        case reopenKeepsEverything = "a reopened store holds everything committed before close"
        case closedStoreRefusesCalls = "a closed store fails every call with .closed"
        case journalReportsLastIndex = "a journal reads back with its highest index, which maxSequence covers"
        case timersRoundTrip = "timers read back by due time and end with their invocation"
        case scopedReads =
            "the unfinished invocations, timers and subscriptions of some partitions are those of the whole store in them, unsigned keys included"
        case subscriptionsRoundTrip = "subscriptions read back, and end with their subscriber or their topic"
        case promisesKeepFirstResult = "a durable promise keeps its first result"
        case workflowStateEndsWithItsRun = "a workflow's state and promises go when its run is purged or expires"
        case suspendedWithNewEntries =
            "a suspended invocation needs a replay only when its journal grew after it suspended"
        case eventsRoundTripOnce = "an event reads back as first inserted, a repeat keeps the first, delivery is marked"
        case eventsExpireOnceDelivered = "events past their retention are purged once delivered, not before"
        case eventSubscriptionsRoundTrip = "event subscriptions read back oldest first, and a deleted one is gone"
        case handlerLimitsRoundTrip = "handler limits replace earlier ones, and go when both are cleared"
        case schedulesRoundTrip =
            "schedules read back oldest first; progress commits with a batch (or with it fails); a deleted one stays gone"

        public var testDescription: String { rawValue }
    }

    public func run(_ check: Check) async throws {
        switch check {
        case .everyFieldRoundTrips: try await everyFieldRoundTrips()
        case .unknownInvocationIsNil: try await unknownInvocationIsNil()
        case .journalKeepsIndexOrder: try await journalKeepsIndexOrder()
        case .statusUpdatesKeepTheRest: try await statusUpdatesKeepTheRest()
        case .stateIsScopedToItsObject: try await stateIsScopedToItsObject()
        case .stateIsOrderedByName: try await stateIsOrderedByName()
        case .completionDropsJournal: try await completionDropsJournal()
        case .deleteForgetsEverything: try await deleteForgetsEverything()
        case .purgeRemovesOnlyExpired: try await purgeRemovesOnlyExpired()
        case .maxSequenceNeverGoesBack: try await maxSequenceNeverGoesBack()
        case .unfinishedInSequenceOrder: try await unfinishedInSequenceOrder()
        case .failedBatchLeavesNothing: try await failedBatchLeavesNothing()
        case .largeBatchCommits: try await largeBatchCommits()
        case .reopenKeepsEverything: try await reopenKeepsEverything()
        case .closedStoreRefusesCalls: try await closedStoreRefusesCalls()
        case .journalReportsLastIndex: try await journalReportsLastIndex()
        case .timersRoundTrip: try await timersRoundTripAndEndWithTheirInvocation()
        case .subscriptionsRoundTrip: try await subscriptionsRoundTripAndEnd()
        case .promisesKeepFirstResult: try await promisesKeepTheirFirstResult()
        case .suspendedWithNewEntries: try await suspendedWithNewEntriesSeesArrivals()
        case .eventsRoundTripOnce: try await eventsRoundTripOnce()
        case .eventsExpireOnceDelivered: try await eventsExpireOnceDelivered()
        case .eventSubscriptionsRoundTrip: try await eventSubscriptionsRoundTrip()
        case .schedulesRoundTrip: try await schedulesRoundTrip()
        case .scopedReads: try await scopedReads()
        case .handlerLimitsRoundTrip: try await handlerLimitsRoundTrip()
        case .workflowStateEndsWithItsRun: try await workflowStateEndsWithItsRun()
        }
    }

    /// Runs `body` on a store over a fresh database and closes the store afterwards, even when `body` throws.
    func withFreshStore(_ body: (any Store, Open) async throws -> Void) async throws {
        let open = try await freshDatabase()
        let store = try await open()
        do {
            try await body(store, open)
        } catch {
            await store.close()
            throw error
        }
        await store.close()
    }
}

// MARK: - Fixtures

extension StoreConformance {
    public static let counter = ObjectAddress(service: "Counter", key: "a")

    public static func id(_ number: UInt128, partition: UInt64 = 7) -> InvocationID {
        InvocationID(partitionKey: partition, uuid: number)
    }

    /// An unfinished exclusive call on `Counter/a`, with only the required fields set.
    public static func record(
        _ id: InvocationID,
        sequence: Int64,
        status: InvocationStatus = .invoked,
        key: String? = "a"
    ) -> InvocationRecord {
        InvocationRecord(
            id: id,
            target: InvocationTarget(service: "Counter", handler: "add", key: key),
            handlerKind: key == nil ? nil : .exclusive,
            status: status,
            sequence: sequence,
            createdAt: 1_000 + sequence
        )
    }

    public static func entry(_ type: UInt16, _ text: String) -> JournalEntry {
        JournalEntry(type: type, payload: Data(text.utf8))
    }
}
