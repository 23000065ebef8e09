import Foundation
import KeelCore
import KeelProtocol
import KeelStore
import KeelStoreTesting
import Testing

@testable import KeelSQLite

@Suite("SQLiteStore")
final class SQLiteStoreTests {
    let directory = TemporaryDirectory()

    @Test("commits are durable: WAL journal, synchronous=FULL and a busy timeout")
    func pragmas() async throws {
        let store = try SQLiteStore(directory: directory.newSubdirectory())
        #expect(try await store.scalar("PRAGMA journal_mode") == "wal")
        #expect(try await store.scalar("PRAGMA synchronous") == "2")
        #expect(try await store.scalar("PRAGMA busy_timeout") == "5000")
        await store.close()
    }

    @Test("a missing data directory is created, parents included")
    func createsDirectory() async throws {
        let nested = directory.newSubdirectory().appendingPathComponent("a/b", isDirectory: true)
        let store = try SQLiteStore(directory: nested.path, fileName: "data.sqlite")
        #expect(store.path == nested.appendingPathComponent("data.sqlite").path)
        #expect(FileManager.default.fileExists(atPath: store.path))
        await store.close()
    }

    @Test("partition keys are stored as their Int64 bit pattern, failure metadata as JSON")
    func columnEncodings() async throws {
        let store = try SQLiteStore(directory: directory.newSubdirectory())
        let id = StoreConformance.id(1, partition: UInt64.max)
        var record = StoreConformance.record(id, sequence: 1, status: .completed)
        record.result = .failure(Failure(code: 409, message: "taken", metadata: ["sku": "42"]))
        try await store.apply([.insertInvocation(record)])
        #expect(try await store.scalar("SELECT partition_key FROM invocation") == "-1")
        #expect(try await store.scalar("SELECT id FROM invocation") == id.description)
        #expect(try await store.scalar("SELECT json_extract(failure_metadata, '$.sku') FROM invocation") == "42")
        await store.close()
    }

    @Test("recovery, purge and journal reads use their indexes instead of scanning")
    func queryPlans() async throws {
        let store = try SQLiteStore(directory: directory.newSubdirectory())
        #expect(try await store.queryPlan(SQLiteStore.ReadSQL.unfinished).contains("invocation_unfinished"))
        #expect(try await store.queryPlan(SQLiteStore.WriteSQL.purgeExpired).contains("invocation_expiry"))
        #expect(try await store.queryPlan(SQLiteStore.ReadSQL.journal).contains("PRIMARY KEY"))
        #expect(try await store.queryPlan(SQLiteStore.ReadSQL.invocation).contains("invocation_lookup"))
        #expect(try await store.queryPlan(SQLiteStore.WriteSQL.appendJournal).contains("invocation_lookup"))
        #expect(try await store.queryPlan(SQLiteStore.ReadSQL.state).contains("PRIMARY KEY"))
        await store.close()
    }

    @Test("a full disk fails the batch with .diskFull, keeps earlier data and takes later batches")
    func diskFull() async throws {
        let database = directory.newSubdirectory()
        let store = try SQLiteStore(directory: database, configuration: .init(maxPageCount: 64))
        let earlier = StoreConformance.id(1)
        let big = StoreConformance.id(2)
        let later = StoreConformance.id(3)
        let input = StoreConformance.entry(1, "input")
        try await store.apply([
            .insertInvocation(StoreConformance.record(earlier, sequence: 1)),
            .appendJournal(earlier, index: 0, entry: input),
        ])

        let tooBig: [StoreOperation] =
            [.insertInvocation(StoreConformance.record(big, sequence: 2))]
            + (Int64(0)..<64).map {
                .appendJournal(big, index: $0, entry: JournalEntry(type: 2, payload: Data(count: 8_192)))
            }
        let error = await #expect(throws: StoreError.self) { try await store.apply(tooBig) }
        #expect(error?.code == .diskFull)
        #expect(error?.message.contains(store.path) == true)
        #expect(error?.message.contains("nothing of this batch was stored") == true)

        #expect(try await store.invocation(big) == nil)
        #expect(try await store.journal(of: big).isEmpty)
        #expect(try await store.unfinishedInvocations().map(\.id) == [earlier])
        #expect(try await store.journal(of: earlier) == [input])
        try await store.apply([.insertInvocation(StoreConformance.record(later, sequence: 3))])
        #expect(try await store.unfinishedInvocations().map(\.id) == [earlier, later])
        await store.close()

        let reopened = try SQLiteStore(directory: database)
        #expect(try await reopened.unfinishedInvocations().map(\.id) == [earlier, later])
        #expect(try await reopened.maxSequence() == 3)
        await reopened.close()
    }

    @Test("an append to an invocation that is not stored stores nothing and fails nothing else in its batch")
    func appendToUnknownInvocation() async throws {
        let store = try SQLiteStore(directory: directory.newSubdirectory())
        let known = StoreConformance.id(1)
        let unknown = StoreConformance.id(2)
        try await store.apply([
            .appendJournal(unknown, index: 1, entry: StoreConformance.entry(1, "lost")),
            .insertInvocation(StoreConformance.record(known, sequence: 2)),
            .appendJournal(known, index: 3, entry: StoreConformance.entry(1, "kept")),
        ])
        #expect(try await store.journal(of: known) == [StoreConformance.entry(1, "kept")])
        #expect(try await store.journal(of: unknown).isEmpty)
        #expect(try await store.scalar("SELECT count(*) FROM journal") == "1")
        await store.close()
    }

    @Test("invocations created later have greater lookup keys, whatever their partition")
    func lookupKeysFollowTime() {
        let earlier = InvocationID.generate(partitionKey: .max, nowMilliseconds: 1_000)
        let later = InvocationID.generate(partitionKey: 0, nowMilliseconds: 1_001)
        #expect(earlier.lookupKey.lexicographicallyPrecedes(later.lookupKey))
        #expect(earlier.lookupKey.count == 24)
        #expect(Array(later.lookupKey.suffix(8)) == Array(repeating: 0, count: 8))
    }

    @Test(
        "rows written before invocations were looked up by time and journals keyed by sequence survive the migrations"
    )
    func journalKeyMigration() async throws {
        let database = directory.newSubdirectory()
        let kept = StoreConformance.id(1)
        let orphan = StoreConformance.id(2)
        try SQLiteStore.createMigrated(
            upTo: "v3",
            at: database,
            then: """
                INSERT INTO invocation (id, partition_key, service, handler, key, handler_kind, status, sequence, \
                created_at, modified_at, retry_count) \
                VALUES ('\(kept)', 7, 'Counter', 'add', 'a', 'EXCLUSIVE', 'invoked', 5, 1005, 1005, 0);
                INSERT INTO journal (invocation_id, idx, type, payload) VALUES
                    ('\(kept)', 6, 1, x'6f6e65'), ('\(kept)', 9, 2, x'74776f'), ('\(orphan)', 7, 1, x'6c6f7374');
                UPDATE meta SET value = 9 WHERE name = 'max_sequence';
                """
        )

        let store = try SQLiteStore(directory: database)
        #expect(try await store.invocation(kept) == StoreConformance.record(kept, sequence: 5))
        #expect(try await store.unfinishedInvocations().map(\.id) == [kept])
        #expect(
            try await store.journal(of: kept) == [StoreConformance.entry(1, "one"), StoreConformance.entry(2, "two")]
        )
        #expect(try await store.storedJournal(of: kept).lastIndex == 9)
        #expect(try await store.journal(of: orphan).isEmpty)
        #expect(try await store.scalar("SELECT count(*) FROM journal") == "2")
        #expect(try await store.maxSequence() == 9)
        try await store.apply([.appendJournal(kept, index: 10, entry: StoreConformance.entry(3, "three"))])
        #expect(try await store.journal(of: kept).count == 3)
        await store.close()
    }

    @Test("values bound straight to SQLite read back whole: empty, large, non-ASCII and missing ones")
    func directBindingRoundTrip() async throws {
        let store = try SQLiteStore(directory: directory.newSubdirectory())
        let id = StoreConformance.id(1, partition: UInt64.max)
        var record = StoreConformance.record(id, sequence: 1, key: "clé/🔑")
        record.idempotencyKey = ""
        record.lastFailure = "échec: délai dépassé"
        record.executeAt = 42
        record.deploymentID = "dp_1"
        let empty = JournalEntry(type: 1, payload: Data())
        // Larger than the 16 KiB buffer the binder copies into: SQLite copies this one itself.
        let large = JournalEntry(type: 2, payload: Data((0..<100_000).map { UInt8(truncatingIfNeeded: $0) }))
        let small = StoreConformance.entry(3, "three")
        try await store.apply([
            .insertInvocation(record),
            .appendJournal(id, index: 2, entry: empty),
            .appendJournal(id, index: 3, entry: large),
            .appendJournal(id, index: 4, entry: small),
        ])
        #expect(try await store.invocation(id) == record)
        #expect(try await store.journal(of: id) == [empty, large, small])
        #expect(try await store.scalar("SELECT typeof(payload) FROM journal WHERE idx = 2") == "blob")

        try await store.apply([
            .updateStatus(id, status: .suspended, retryCount: 3, lastFailure: nil, modifiedAt: 77)
        ])
        var updated = record
        updated.status = .suspended
        updated.retryCount = 3
        updated.lastFailure = nil
        updated.modifiedAt = 77
        #expect(try await store.invocation(id) == updated)

        let failure = Failure(code: 409, message: "taken ✗", metadata: ["sku": "42"])
        try await store.apply([.completeInvocation(id, result: .failure(failure), completedAt: 90, expiresAt: 100)])
        let completed = try await store.invocation(id)
        #expect(completed?.status == .completed)
        #expect(completed?.result == .failure(failure))
        #expect(completed?.expiresAt == 100)
        #expect(try await store.journal(of: id).isEmpty)
        await store.close()
    }

    @Test("a database migrated by a newer Keel is refused with .schema")
    func schemaTooNew() async throws {
        let database = directory.newSubdirectory()
        let store = try SQLiteStore(directory: database)
        try await store.execute(sql: "INSERT INTO grdb_migrations (identifier) VALUES ('v2-from-the-future')")
        await store.close()

        let error = #expect(throws: StoreError.self) { try SQLiteStore(directory: database) }
        #expect(error?.code == .schema)
        #expect(error?.message.contains("v2-from-the-future") == true)
        #expect(error?.message.contains("newer Keel") == true)
    }

    @Test("a file that is not a database is reported as corrupt")
    func notADatabase() throws {
        let database = directory.newSubdirectory()
        try FileManager.default.createDirectory(at: database, withIntermediateDirectories: true)
        let garbage = Data(repeating: 0x2A, count: 8_192)
        try garbage.write(to: database.appendingPathComponent("keel.sqlite"))

        let error = #expect(throws: StoreError.self) { try SQLiteStore(directory: database) }
        #expect(error?.code == .corrupt)
        #expect(error?.message.contains("keel.sqlite") == true)
    }

    @Test("a data directory that cannot be created is reported as read-only")
    func directoryCannotBeCreated() throws {
        let parent = directory.newSubdirectory()
        try FileManager.default.createDirectory(at: parent, withIntermediateDirectories: true)
        let file = parent.appendingPathComponent("a-file")
        try Data("x".utf8).write(to: file)

        let error = #expect(throws: StoreError.self) { try SQLiteStore(directory: file.appendingPathComponent("sub")) }
        #expect(error?.code == .readOnly)
        #expect(error?.message.contains(file.path) == true)
    }
}
