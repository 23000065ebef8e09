import Benchmark
import Foundation
import KeelCore
import KeelProtocol
import KeelSQLite
import KeelStore
import Synchronization

/// `SQLiteStore.apply` of one batch of journal appends to an invocation created in the same batch: one
/// transaction and, with `synchronous=FULL`, one fsync. (The store drops appends to an unknown invocation.)
func storeBenchmarks() {
    for size in [100, 1_000] {
        let fixture = StoreFixture()
        Benchmark(
            "SQLiteStore: apply a batch of \(size) appendJournal (one transaction, synchronous=FULL)",
            configuration: .init(maxDuration: .seconds(3), maxIterations: 2_000),
            closure: { benchmark in
                let store = try fixture.openStore()
                for _ in benchmark.scaledIterations {
                    let batch = fixture.nextBatch(size: size)
                    benchmark.startMeasurement()
                    try await store.apply(batch)
                    benchmark.stopMeasurement()
                }
            },
            setup: { try fixture.setUp() },
            teardown: { await fixture.tearDown() }
        )
    }
}

/// A store in a fresh temporary directory, and batches for it: each batch journals a new invocation, so
/// every append is an insert, as it is when the engine runs.
final class StoreFixture: Sendable {
    private struct State {
        var directory: URL?
        var store: SQLiteStore?
        var invocations: UInt64 = 0
    }

    private let state = Mutex(State())
    /// The payload of a typical step completion: `RunCompletionNotification` with a small JSON value.
    private let payload: Data

    init() {
        var value = PBValue()
        value.content = Data(#"{"orderId":"o-1234","status":"ok"}"#.utf8)
        var notification = PBRunCompletionNotificationMessage()
        notification.completionID = 1
        notification.value = value
        payload = (try? Frame(type: .runCompletion, message: notification).payload) ?? Data(count: 48)
    }

    func setUp() throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("keel-bench-\(UUID().uuidString)")
        let store = try SQLiteStore(directory: directory)
        state.withLock {
            $0.directory = directory
            $0.store = store
        }
    }

    func openStore() throws -> SQLiteStore {
        guard let store = state.withLock({ $0.store }) else { throw StoreFixtureError.notSetUp }
        return store
    }

    func nextBatch(size: Int) -> [StoreOperation] {
        let invocation = state.withLock { state in
            state.invocations += 1
            return state.invocations
        }
        let id = InvocationID.generate(partitionKey: invocation, nowMilliseconds: invocation)
        let record = InvocationRecord(
            id: id,
            target: InvocationTarget(service: "Bench", handler: "run", key: nil),
            handlerKind: nil,
            status: .invoked,
            sequence: Int64(invocation) * 10_000,
            createdAt: 0
        )
        let entry = JournalEntry(type: MessageType.runCompletion.rawValue, payload: payload)
        return [.insertInvocation(record)]
            + (0..<size).map {
                StoreOperation.appendJournal(id, index: Int64(invocation) * 10_000 + Int64($0) + 1, entry: entry)
            }
    }

    func tearDown() async {
        let (store, directory) = state.withLock { state in
            defer { state = State() }
            return (state.store, state.directory)
        }
        await store?.close()
        if let directory { try? FileManager.default.removeItem(at: directory) }
    }
}

enum StoreFixtureError: Error {
    case notSetUp
}
